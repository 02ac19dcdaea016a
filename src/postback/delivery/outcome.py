"""Whether one attempt delivered: a pure function of the reply and the postback's texts.

A delivery succeeds on a 2xx reply whose body contains the success response (when one is
set) and does not contain the error response (when one is set). Redirects are not
followed, so a 3xx is a failed attempt like any other non-2xx status. The body is read
as UTF-8 (undecodable bytes replaced) and only as far as the transport kept it (the
first ``max_reply_bytes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from postback.domain.records import FailureReason, Reply

_FAILURE_DETAIL: dict[FailureReason, str] = {
    FailureReason.TIMEOUT: "no reply in time",
    FailureReason.CONNECTION: "could not connect, or the connection broke",
    FailureReason.DNS: "the host name does not exist",
    FailureReason.BLOCKED_ADDRESS: "the address is not allowed",
    FailureReason.INVALID_URL: "the URL cannot be sent",
    FailureReason.INVALID_REQUEST: "the request cannot be sent as it is",
    FailureReason.PROTOCOL: "the request or the reply is not valid HTTP",
    FailureReason.TEMPLATE: "the postback's templates cannot render this event",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one attempt; ``reason`` is ``None`` exactly when delivered."""

    delivered: bool
    reason: FailureReason | None
    detail: str


DELIVERED = Outcome(delivered=True, reason=None, detail="delivered")


def classify(
    reply: Reply | None,
    failure: FailureReason | None,
    success_response: str | None,
    error_response: str | None,
) -> Outcome:
    """Judge one attempt from the transport's reply or failure (exactly one is given)."""
    if failure is not None:
        return _failed(failure, _FAILURE_DETAIL.get(failure, failure.value))
    if reply is None:
        raise ValueError("classify needs a reply or a failure")
    if not 200 <= reply.status <= 299:
        return _failed(FailureReason.STATUS, f"HTTP {reply.status}")
    return _judge_body(
        reply.body.decode("utf-8", errors="replace"), success_response, error_response
    )


def _judge_body(body: str, success_response: str | None, error_response: str | None) -> Outcome:
    if error_response and error_response in body:
        return _failed(FailureReason.ERROR_TEXT_FOUND, f"reply contains {error_response!r}")
    if success_response and success_response not in body:
        return _failed(
            FailureReason.SUCCESS_TEXT_MISSING, f"reply does not contain {success_response!r}"
        )
    return DELIVERED


def _failed(reason: FailureReason, detail: str) -> Outcome:
    return Outcome(delivered=False, reason=reason, detail=detail)
