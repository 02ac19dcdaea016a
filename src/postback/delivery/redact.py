"""Secrets out of a request before it is logged: pure string work, no I/O.

What is replaced by ``[redacted]``:

* header values: ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``
  and every header whose name contains token, secret, key, password, passwd, auth,
  signature, credential, session or cookie (so ``Set-Cookie`` in a reply too);
* the URL's userinfo: the password of ``user:password@``, or the whole of a lone
  ``token@`` (a user name alone is usually a key);
* query and fragment parameters whose names look secret (:func:`is_secret_name`);
* in the body, the same names: form fields, JSON string values, XML element text.

Everything else is kept byte for byte, so the log shows the request as it was sent.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from urllib.parse import unquote_plus

from postback.domain.records import RenderedRequest

REDACTED = "[redacted]"

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
HEADER_PARTS = (
    "token",
    "secret",
    "key",
    "password",
    "passwd",
    "auth",
    "signature",
    "credential",
    "session",
    "cookie",
)
# A parameter is secret when its name contains one of these ...
NAME_PARTS = ("token", "secret", "password", "passwd", "apikey", "signature", "credential")
# ... or has one of these as a whole word (``api_key``, ``apiKey``, ``sig``; not ``keyword``).
NAME_WORDS = frozenset(
    {"key", "sig", "pass", "pwd", "auth", "authorization", "hmac", "session", "cookie"}
)

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)"(?:[^"\\]|\\.)*"')
_XML_ELEMENT = re.compile(r"<((?:[\w.-]+:)?([\w.-]+))(\s[^<>]*)?>[^<]*</\1\s*>")


def redact(request: RenderedRequest) -> RenderedRequest:
    """The request with every secret it carries replaced by ``[redacted]`` (the same
    object when it carries none)."""
    body = None if request.body is None else redact_body(request.body, _ctype(request.headers))
    url, headers = redact_url(request.url), redact_headers(request.headers)
    if url == request.url and headers is request.headers and body == request.body:
        return request
    return replace(request, url=url, headers=headers, body=body)


@functools.lru_cache(maxsize=4096)  # header names repeat; this ran for every attempt
def is_secret_header(name: str) -> bool:
    """Whether a header with this name carries a credential."""
    lowered = name.strip().lower()
    return lowered in SECRET_HEADERS or any(part in lowered for part in HEADER_PARTS)


def redact_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Headers with the values of secret ones replaced (request or reply headers); the
    same tuple when none is secret."""
    if not any(is_secret_header(k) for k, _ in headers):
        return headers
    return tuple((k, REDACTED if is_secret_header(k) else v) for k, v in headers)


@functools.lru_cache(maxsize=4096)  # parameter names repeat across deliveries
def is_secret_name(name: str) -> bool:
    """Whether a query, form, JSON or XML field with this name looks like a secret."""
    decoded = unquote_plus(name)
    compact = _NOT_ALNUM.sub("", decoded.lower())
    if any(part in compact for part in NAME_PARTS):
        return True
    return any(word.lower() in NAME_WORDS for word in _WORD.findall(decoded))


def redact_url(url: str) -> str:
    """The URL with its userinfo secret and secret-looking parameters replaced."""
    rest, hash_, fragment = url.partition("#")
    base, mark, query = rest.partition("?")
    base = _redact_userinfo(base)
    if mark:
        base = f"{base}?{redact_pairs(query)}"
    return f"{base}#{redact_pairs(fragment)}" if hash_ else base


def redact_pairs(text: str) -> str:
    """``a=1&token=2`` → ``a=1&token=[redacted]`` (query strings and form bodies)."""
    return "&".join(_redact_pair(part) for part in text.split("&"))


def redact_body(body: str, content_type: str) -> str:
    """The body with secret fields replaced, read as JSON, XML or a form."""
    kind = _body_kind(body, content_type)
    if kind == "json":
        return _JSON_PAIR.sub(_redact_json_pair, body)
    if kind == "xml":
        return _XML_ELEMENT.sub(_redact_xml_element, body)
    return redact_pairs(body)


def _redact_userinfo(base: str) -> str:
    scheme, sep, after = base.partition("://")
    if not sep:
        return base
    authority, slash, path = after.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return base
    user, colon, _ = userinfo.partition(":")
    hidden = f"{user}:{REDACTED}" if colon else REDACTED
    return f"{scheme}://{hidden}@{host}{slash}{path}"


def _redact_pair(part: str) -> str:
    name, eq, _ = part.partition("=")
    return f"{name}={REDACTED}" if eq and is_secret_name(name) else part


def _redact_json_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(1)):
        return match.group(0)
    return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'


def _redact_xml_element(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(2)):
        return match.group(0)
    return f"<{match.group(1)}{match.group(3) or ''}>{REDACTED}</{match.group(1)}>"


def _ctype(headers: tuple[tuple[str, str], ...]) -> str:
    return next((v.lower() for k, v in headers if k.strip().lower() == "content-type"), "")


def _body_kind(body: str, content_type: str) -> str:
    for kind in ("json", "xml", "form"):
        if kind in content_type:
            return kind
    first = body.lstrip()[:1]
    return {"{": "json", "[": "json", "<": "xml"}.get(first, "form")
