from __future__ import annotations

import pytest

from postback.delivery.outcome import Outcome, classify
from postback.domain.records import FailureReason, Reply


def reply(status: int = 200, body: bytes = b"OK") -> Reply:
    return Reply(status=status, headers=(), body=body)


def test_2xx_without_texts_is_delivered() -> None:
    verdict = classify(reply(204, b""), None, None, None)
    assert verdict == Outcome(delivered=True, reason=None, detail="delivered")


@pytest.mark.parametrize("status", [200, 201, 202, 299])
def test_every_2xx_counts(status: int) -> None:
    assert classify(reply(status), None, None, None).delivered


@pytest.mark.parametrize("status", [100, 199, 300, 301, 302, 304, 400, 404, 429, 500, 503])
def test_other_statuses_fail_with_status(status: int) -> None:
    verdict = classify(reply(status, b"success"), None, "success", None)
    assert not verdict.delivered
    assert verdict.reason is FailureReason.STATUS
    assert str(status) in verdict.detail


def test_success_text_must_be_in_the_body() -> None:
    assert classify(reply(body=b'{"result":"accepted"}'), None, "accepted", None).delivered
    verdict = classify(reply(body=b'{"result":"queued"}'), None, "accepted", None)
    assert verdict.reason is FailureReason.SUCCESS_TEXT_MISSING


def test_error_text_must_not_be_in_the_body() -> None:
    assert classify(reply(body=b"OK"), None, None, "ERROR").delivered
    verdict = classify(reply(body=b"ERROR: bad id"), None, None, "ERROR")
    assert verdict.reason is FailureReason.ERROR_TEXT_FOUND


def test_error_text_wins_over_success_text() -> None:
    verdict = classify(reply(body=b"OK but ERROR"), None, "OK", "ERROR")
    assert verdict.reason is FailureReason.ERROR_TEXT_FOUND


def test_both_texts_satisfied() -> None:
    assert classify(reply(body=b"status=OK"), None, "OK", "ERROR").delivered


def test_empty_texts_count_as_not_set() -> None:
    assert classify(reply(body=b"anything"), None, "", "").delivered


def test_comparison_is_case_sensitive() -> None:
    assert classify(reply(body=b"ok"), None, "OK", None).reason is (
        FailureReason.SUCCESS_TEXT_MISSING
    )


def test_body_is_decoded_as_utf8_with_replacement() -> None:
    body = "réussi".encode() + b"\xff\xfe"
    assert classify(reply(body=body), None, "réussi", None).delivered
    assert classify(reply(body=b"\xffOK"), None, "\ufffdOK", None).delivered


@pytest.mark.parametrize(
    "failure",
    [
        FailureReason.TIMEOUT,
        FailureReason.CONNECTION,
        FailureReason.DNS,
        FailureReason.BLOCKED_ADDRESS,
        FailureReason.INVALID_URL,
        FailureReason.PROTOCOL,
    ],
)
def test_transport_failures_pass_through(failure: FailureReason) -> None:
    verdict = classify(None, failure, "OK", None)
    assert verdict == Outcome(delivered=False, reason=failure, detail=verdict.detail)
    assert verdict.detail


def test_a_reply_or_a_failure_is_required() -> None:
    with pytest.raises(ValueError, match="reply or a failure"):
        classify(None, None, None, None)
