"""Escaping of substituted values per context. Literal text is never escaped.

Each context has a ``needs`` test (a compiled regex search: C speed, true when something
must change) and an ``escape`` function; renderers call ``escape`` only when ``needs``
says so, so a value with nothing to escape costs one regex scan and no copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring

CONTEXTS = ("url", "query", "json", "xml", "header", "text")
UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
URL_TABLE: tuple[str, ...] = tuple(
    chr(byte) if byte in UNRESERVED else f"%{byte:02X}" for byte in range(256)
)
URL_NEEDS = re.compile(r"[^A-Za-z0-9._~-]").search


def utf8(text: str) -> bytes:
    """UTF-8 bytes; a lone surrogate (possible in decoded JSON) becomes U+FFFD."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def escape_url(text: str) -> str:
    """Percent-encode every UTF-8 byte except ``A-Z a-z 0-9 - . _ ~``."""
    return "".join(map(URL_TABLE.__getitem__, utf8(text)))


def escape_json(text: str) -> str:
    """The inside of a JSON string: exactly what ``json.dumps(ensure_ascii=False)`` writes."""
    return encode_basestring(text)[1:-1]


# C0 controls but tab, LF and CR; surrogates (only lone ones reach a str); U+FFFE, U+FFFF.
XML_FORBIDDEN_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
XML_FORBIDDEN = re.compile(f"[{XML_FORBIDDEN_CHARS}]")


def escape_xml(text: str) -> str:
    """Characters XML 1.0 forbids become U+FFFD, then the five XML entities."""
    return (
        XML_FORBIDDEN.sub("\ufffd", text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def escape_header(text: str) -> str:
    """Every C0 control and DEL becomes one space: a header value cannot be split, and no
    HTTP client refuses it."""
    return HEADER_CONTROLS.sub(" ", text)


def escape_datetime_url(text: str) -> str:
    """A formatted date/time holds only digits, ``-``, ``T``, ``:``, ``+`` and ``.``."""
    return text.replace(":", "%3A").replace("+", "%2B")


@dataclass(frozen=True, slots=True)
class Escaper:
    """How one context escapes a value: ``escape(v) if needs(v) else v``."""

    needs: Callable[[str], object]
    escape: Callable[[str], str]
    datetime: Callable[[str], str] | None = None

    def __call__(self, text: str) -> str:
        """Escape ``text`` for this context."""
        return self.escape(text) if self.needs(text) else text


URL = Escaper(URL_NEEDS, escape_url, escape_datetime_url)
ESCAPERS: dict[str, Escaper | None] = {
    "url": URL,
    "query": URL,
    "json": Escaper(re.compile(r'["\\\x00-\x1f]').search, escape_json),
    "xml": Escaper(re.compile(f"[&<>\"'{XML_FORBIDDEN_CHARS}]").search, escape_xml),
    "header": Escaper(HEADER_CONTROLS.search, escape_header),
    "text": None,
}
