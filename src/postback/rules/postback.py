"""Rules a postback must satisfy when saved, and its one render function. Pure.

The store lookups the rules need are done by the service first and passed in."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from postback.conditions import ConditionError, compile_condition
from postback.config import Network
from postback.domain.catalogue import Catalogue, catalogue_for
from postback.domain.records import (
    CATALOGUE_OF_KIND,
    CONTENT_TYPE,
    MOBILE_APP_CATEGORIES,
    BodyFormat,
    EventTrigger,
    HttpMethod,
    PostbackConfig,
    PostbackKind,
    RenderedRequest,
)
from postback.errors import Problem, problem
from postback.rules.addresses import host_address, is_blocked
from postback.template import Template, TemplateError, compile_template
from postback.template.escaping import XML_FORBIDDEN
from postback.template.lexer import JoinClose, JoinOpen, RefToken, String, TextToken, tokenize

MAX_DELAY_SECONDS = 7 * 24 * 3600
MIN_RATE, MAX_RATE = 0.01, 100_000.0
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # used with fullmatch: "$" allows a "\n"
CONTROLS = re.compile(r"[\x00-\x1f\x7f]")  # no HTTP client sends these in a header value
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "postback-id", "upgrade"}
)
BODY_CONTEXT = {BodyFormat.JSON: "json", BodyFormat.XML: "xml", BodyFormat.QUERY: "query"}


#: The scope settings each kind of postback takes; any other one must keep its default
#: (a 422 naming it otherwise). Settings every kind has (URL, method, ...) are not listed.
KIND_FIELDS: dict[PostbackKind, frozenset[str]] = {
    PostbackKind.ACTION_LIFECYCLE: frozenset({"include_locking"}),
    PostbackKind.ACTION_CLEARING: frozenset(),
    PostbackKind.ACTION_INQUIRY: frozenset(),
    PostbackKind.CATALOG_CHANGE: frozenset(),
    PostbackKind.PARTNER_INTEGRATION: frozenset(
        {"partner_id", "event_type_id", "trigger", "include_installs", "in_app_event"}
    ),
    PostbackKind.MEDIA_SOURCE: frozenset({"media_source_id", "event_type_id"}),
}
SCOPE_FIELDS = frozenset().union(*KIND_FIELDS.values())
#: Settings that only a mobile app event type (app install, in-app event) takes.
MOBILE_APP_FIELDS = ("include_installs", "in_app_event")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(PostbackConfig)}


@dataclass(frozen=True, slots=True)
class Compiled:
    """A postback's templates, compiled once when it is saved (or first used)."""

    url: Template
    body: Template | None
    headers: tuple[tuple[str, Template], ...]


def _compile(
    field: str, text: str, context: str, config: PostbackConfig, out: list[Problem]
) -> Template | None:
    try:
        return compile_template(text, context=context, catalogue=_catalogue(config))
    except TemplateError as exc:
        out.append(problem(field, exc.code, str(exc), exc.position))
        return None


def _catalogue(config: PostbackConfig) -> Catalogue:
    return catalogue_for(CATALOGUE_OF_KIND[config.kind])


def compile_config(config: PostbackConfig) -> tuple[Compiled | None, list[Problem]]:
    """Compile every template of a postback; return it, or the problems found."""
    out: list[Problem] = []
    url = _compile("url", config.url, "url", config, out)
    body = None
    if config.body is not None and config.body_format is not None:
        body = _compile("body", config.body, BODY_CONTEXT[config.body_format], config, out)
    headers = []
    for name, value in config.headers:
        compiled = _compile(f"headers.{name}", value, "header", config, out)
        if compiled is not None:
            headers.append((name, compiled))
    if out or url is None:
        return None, out
    return Compiled(url, body, tuple(headers)), out


def with_defaults(config: PostbackConfig) -> PostbackConfig:
    """The configuration with the defaults its kind implies (a partner integration's
    trigger is ``always`` unless given)."""
    if config.kind is PostbackKind.PARTNER_INTEGRATION and config.trigger is None:
        return dataclasses.replace(config, trigger=EventTrigger.ALWAYS)
    return config


def check_kind_fields(config: PostbackConfig) -> list[Problem]:
    """Scope settings set on a kind of postback that does not take them."""
    takes = KIND_FIELDS[config.kind]
    return [
        problem(name, "not_allowed", f"{config.kind} postbacks have no {name}; leave it out")
        for name in sorted(SCOPE_FIELDS - takes)
        if getattr(config, name) != _DEFAULTS[name]
    ]


def check_mobile_app(config: PostbackConfig, category: str) -> list[Problem]:
    """Installs and an in-app event name are settings of mobile app event types only."""
    if category in MOBILE_APP_CATEGORIES:
        return []
    return [
        problem(
            name,
            "not_allowed",
            f"{name} is only for mobile app event types (app_install, in_app_event); "
            f"this event type is a {category}",
        )
        for name in MOBILE_APP_FIELDS
        if getattr(config, name) != _DEFAULTS[name]
    ]


def render(config: PostbackConfig, compiled: Compiled, params: dict[str, Any]) -> RenderedRequest:
    """The request exactly as it will be sent, for these parameters (raises
    :class:`TemplateError` when a value cannot be rendered)."""
    headers = [(name, t.render(params)) for name, t in compiled.headers]
    typed = any(name.lower() == "content-type" for name, _ in headers)
    if config.body_format is not None and compiled.body is not None and not typed:
        headers.append(("Content-Type", CONTENT_TYPE[config.body_format]))
    body = compiled.body.render(params) if compiled.body is not None else None
    return RenderedRequest(config.method, compiled.url.render(params), tuple(headers), body)


def check_shape(config: PostbackConfig) -> list[Problem]:
    """Everything about a postback that needs no database: URL, method, headers, limits."""
    return [
        *check_kind_fields(config),
        *_check_url(config.url),
        *_check_method(config),
        *_check_xml_text(config),
        *_check_headers(config.headers),
        *_check_limits(config),
    ]


def _url_text(url: str) -> tuple[str, str]:
    """The URL with each expression replaced by ``x`` (to parse it), and the text it
    writes itself: outside expressions, and a join's string literals (to look for spaces;
    the blanks between a join's arguments are not part of the URL)."""
    try:
        tokens = tokenize(url)
    except TemplateError:  # the compiler reports it; spaces are judged once it is fixed
        return re.sub(r"\{[^{}]*\}", "x", url), ""
    parsed: list[str] = []
    written: list[str] = []
    in_join = False
    for token in tokens:
        if isinstance(token, TextToken):
            parsed.append(token.text)
            written.append(token.text)
        elif isinstance(token, RefToken | JoinOpen) and not in_join:
            parsed.append("x")
            in_join = isinstance(token, JoinOpen)
        elif isinstance(token, String):
            written.append(token.source.text)
        elif isinstance(token, JoinClose):
            in_join = False
    return "".join(parsed), "".join(written)


def _check_url(url: str) -> list[Problem]:
    literal, written = _url_text(url)
    try:
        parts = urlsplit(literal)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            problem(
                "url",
                "invalid_url",
                "the URL must be absolute, start with http:// or https:// and name a host, "
                "e.g. https://partner.example/postback?action={ActionId}",
            )
        ]
    # Spaces between a join's or a function's arguments are syntax; a control character
    # anywhere (a join's string literal included) would be sent as it is.
    if CONTROLS.search(url) or " " in written:
        return [
            problem(
                "url",
                "invalid_url",
                "the URL must not contain spaces, line breaks or other control characters",
            )
        ]
    return []


def _check_method(config: PostbackConfig) -> list[Problem]:
    if config.method is HttpMethod.POST and config.body_format is None:
        return [
            problem(
                "body_format", "required", "a POST postback needs body_format: json, xml or query"
            )
        ]
    if config.method is HttpMethod.GET and config.body:
        return [problem("body", "not_allowed", "a GET postback has no body; use method POST")]
    return []


def _check_xml_text(config: PostbackConfig) -> list[Problem]:
    """Values are made XML-safe when rendered; the template's own text must be too."""
    if config.body_format is not BodyFormat.XML or config.body is None:
        return []
    found = XML_FORBIDDEN.search(config.body)
    if found is None:
        return []
    char = f"U+{ord(found.group()):04X}"
    return [
        problem(
            "body",
            "invalid_xml",
            f"an XML body cannot contain {char}, which XML 1.0 does not allow",
            found.start(),
        )
    ]


def _check_headers(headers: tuple[tuple[str, str], ...]) -> list[Problem]:
    out: list[Problem] = []
    for name, value in headers:
        field = f"headers.{name}"
        if not TOKEN.fullmatch(name):
            out.append(problem(field, "invalid_header", f"{name!r} is not a valid header name"))
        elif name.lower() in RESERVED_HEADERS:
            out.append(problem(field, "reserved_header", f"{name} is set by Postback itself"))
        if CONTROLS.search(value):
            out.append(
                problem(
                    field,
                    "invalid_header",
                    "header values cannot contain line breaks, tabs or other control characters",
                )
            )
    return out


def _check_limits(config: PostbackConfig) -> list[Problem]:
    out: list[Problem] = []
    if not 0 <= config.min_delay_seconds <= MAX_DELAY_SECONDS:
        out.append(
            problem(
                "min_delay_seconds",
                "out_of_range",
                f"minimum delay must be between 0 and {MAX_DELAY_SECONDS} seconds (7 days)",
            )
        )
    rate = config.max_requests_per_second
    if rate is not None and not MIN_RATE <= rate <= MAX_RATE:
        out.append(
            problem(
                "max_requests_per_second",
                "out_of_range",
                f"maximum requests per second must be between {MIN_RATE} and {MAX_RATE:g}, "
                "or null for no limit",
            )
        )
    return out


def check_condition(text: str | None) -> list[Problem]:
    """A condition must compile; the problem carries the CEL library's message."""
    if text is None:
        return []
    try:
        compile_condition(text)
    except ConditionError as exc:
        return [problem("condition", "invalid_condition", exc.message, exc.position)]
    return []


def check_url_address(url: str, allowed: tuple[Network, ...]) -> list[Problem]:
    """A URL whose host is written as an IP address (in any spelling the C library
    reads) the guard refuses: a 422 when saved, rather than a failure at every send."""
    host = _literal_host(url)
    address = None if host is None else host_address(host)
    if host is None or address is None:
        return []
    if is_blocked(address, allowed):
        return [
            problem(
                "url",
                "blocked_address",
                f"{address} is a private, loopback or otherwise internal address that "
                "postbacks may not reach; ask the operator to allow its network",
            )
        ]
    if ":" not in host and _canonical(host) != str(address):
        return [problem("url", "invalid_url", f"write the address {host} as {address}")]
    return []


def _literal_host(url: str) -> str | None:
    """The host of a URL template when it is plain text (no expression in it)."""
    rest = url.partition("://")[2]
    authority = re.split(r"[/?#\\]", rest, maxsplit=1)[0].rpartition("@")[2]
    host = authority.partition("]")[0] + "]" if authority.startswith("[") else authority
    host = host if host.startswith("[") else host.rpartition(":")[0] or host
    return None if not host or "{" in host else host


def _canonical(host: str) -> str:
    return host.removeprefix("[").removesuffix("]")
