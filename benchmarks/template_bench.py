"""Template rendering speed: postback.template against Jinja2 and a naive ``re.sub`` renderer.

Two templates: (a) the seed GET URL of seed 003 (url context) and (b) a JSON body with
20 parameters and a 3-item join (json context). All three renderers must produce the
same bytes (asserted before timing); the other two use plain stdlib formatters
(``Decimal.quantize``, ``datetime.fromisoformat``, ``urllib.parse.quote``,
``json.dumps``). The figure is renders per second, best of several repeats.

A third template, ``functions_url``, has a function chain on every value (a hash of a
normalised e-mail, a date in a time zone, cents, a status map, defaults); it is timed
against a Jinja2 sandboxed template written by hand with filters doing the same with
the stdlib, checked to give the same bytes (the naive renderer has no functions).

    python -m benchmarks.template_bench [quick|full|smoke]
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from postback.domain.catalogue import ACTION_CATALOGUE
from postback.template import ParamType, compile_template
from postback.template.nodes import Join, Node, Text
from postback.template.parser import parse

RESULTS = Path(__file__).parent / "results" / "template.json"
TARGETS = {"vs_jinja2": 2.0, "vs_naive": 3.0}
MODES = {  # (seconds per repeat, repeats)
    "smoke": (0.01, 2),
    "quick": (0.1, 5),
    "full": (0.5, 9),
}

SEED_URL = (
    "https://www.someadvertiser.com?myCampaignId={CampaignId}&theMpId={MediaPartnerId}"
    "&theActionId={ActionId}&status={Status}&lockingDate={LockingDate}&mpPayout={Payout}"
    "&saleAmt={Amount}"
)
JSON_BODY = (
    '{"campaign_id": "{CampaignId}", "partner_id": "{MediaPartnerId}", '
    '"event_type_id": "{ActionTrackerId}", "action_id": "{ActionId}", "oid": "{Oid}", '
    '"status": "{Status}", "status_detail": "{StatusDetail}", "payout": {Payout}, '
    '"amount": {Amount}, "delta_payout": {DeltaPayout}, "currency": "{Currency}", '
    '"event_date": "{EventDate}", "locking_date": "{LockingDate}", "promo": "{PromoCode}", '
    '"click_id": "{RefClickId}", "shared_id": "{SharedId}", "sub_id": "{SubId1}", '
    '"city": "{CustomerCity}", "country": "{CustomerCountry}", "note": "{Note}", '
    '"items": [{join(items, i, "\\{\\"n\\":{i},\\"sku\\":\\"{i.sku}\\",\\"name\\":\\"{i.name}\\",'
    '\\"qty\\":{i.qty},\\"price\\":{i.amt}\\}", ",")}]}'
)
# The seed's own example values (template-vectors.json), as a tracking system sends them.
SEED_PARAMS: dict[str, Any] = {
    "CampaignId": 1234,
    "MediaPartnerId": 98765,
    "ActionId": "1000.2000.3000",
    "Status": "APPROVED",
    "LockingDate": "2026-12-15T00:00:00-08:00",
    "Payout": "12.50",
    "Amount": "149.90",
}
JSON_PARAMS: dict[str, Any] = {
    **SEED_PARAMS,
    "ActionTrackerId": 5678,
    "Oid": "ORD-2026-0042",
    "StatusDetail": "",
    "DeltaPayout": "0.00",
    "Currency": "USD",
    "EventDate": "2026-11-22T10:15:00-08:00",
    "PromoCode": "WINTER10",
    "RefClickId": "Xy9-aBc12",
    "SharedId": "newsletter-nov",
    "SubId1": "homepage",
    "CustomerCity": "San Francisco",
    "CustomerCountry": "US",
    "Note": 'Gift wrap "red"',
    "items": [
        {"sku": "GH23", "name": "Field Watch", "qty": 1, "amt": "89.90"},
        {"sku": "UT66", "name": "Trail Runner", "qty": 1, "amt": "45.00"},
        {"sku": "RW87", "name": "Sun Hat", "qty": 2, "amt": "7.50"},
    ],
}
# The same event as a producer may send it: amounts not yet normalised, a "Z" date.
RAW_PARAMS: dict[str, Any] = {
    **SEED_PARAMS,
    "Payout": "12.5",
    "Amount": 149.9,
    "LockingDate": "2026-12-15T08:00:00Z",
}
CASES = {
    "seed_url": (SEED_URL, "url", SEED_PARAMS),
    "json_body": (JSON_BODY, "json", JSON_PARAMS),
    "seed_url_raw_values": (SEED_URL, "url", RAW_PARAMS),
}
# A mobile measurement partner's URL: every value goes through a chain of functions.
FUNCTIONS_URL = (
    "https://mmp.example/pb?click_id={RefClickId|trim}"
    '&event={ActionTrackerName|lower|default("sale")}'
    '&status={Status|map("PENDING", "0", "APPROVED", "1", "REVERSED", "2", "9")}'
    "&payout_cents={Payout|cents}&amount={Amount|number(2)}"
    '&ts={EventDate|date("%Y-%m-%d %H:%M:%S", "America/New_York")}&unix={EventDate|unix}'
    "&em={Text1|trim|lower|sha256}"
    '&sub1={SubId1|default("none")|truncate(20)}&cur={Currency|upper}'
)
FUNCTIONS_JINJA = (
    "https://mmp.example/pb?click_id={{ RefClickId|txt|trim|esc }}"
    "&event={{ ActionTrackerName|txt|lower|dflt('sale')|esc }}"
    "&status={{ Status|txt|pbmap(STATUS_CODES, '9')|esc }}"
    "&payout_cents={{ Payout|cents }}&amount={{ Amount|number(2)|esc }}"
    "&ts={{ EventDate|date_in('%Y-%m-%d %H:%M:%S', 'America/New_York')|esc }}"
    "&unix={{ EventDate|unix }}"
    "&em={{ Text1|txt|trim|lower|sha256 }}"
    "&sub1={{ SubId1|txt|dflt('none')|trunc(20)|esc }}&cur={{ Currency|txt|upper|esc }}"
)
FUNCTIONS_PARAMS: dict[str, Any] = {
    "RefClickId": " Xy9-aBc12 ",
    "ActionTrackerName": "Online Sale",
    "Status": "APPROVED",
    "Payout": "12.345",
    "Amount": 149.9,
    "EventDate": "2026-11-22T10:15:00-08:00",
    "Text1": " Jane.Doe@Example.COM ",
    "Currency": "usd",
}
WITH_FUNCTIONS = {"functions_url": (FUNCTIONS_URL, FUNCTIONS_JINJA, "url", FUNCTIONS_PARAMS)}
Renderer = Callable[[Mapping[str, Any]], str]


# -- plain stdlib formatting, shared by the two comparison renderers -------------------
def std_money(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def std_date(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0).isoformat()


def std_text(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def std_url(text: str) -> str:
    return quote(text, safe="")


def std_json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


ESCAPE = {"url": std_url, "json": std_json}
FORMAT = {ParamType.MONEY: std_money, ParamType.DATETIME: std_date}


def _type(name: str, item: bool = False) -> ParamType:
    found = ACTION_CATALOGUE.item_field(name) if item else ACTION_CATALOGUE.get(name)
    return ParamType.TEXT if found is None else found.type


# -- Jinja2 (sandboxed), translated from the same template ----------------------------
def jinja_renderer(text: str, context: str) -> Renderer:
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.filters.update(money=std_money, isodate=std_date, txt=std_text, esc=ESCAPE[context])
    template = env.from_string("".join(_jinja(node, None) for node in parse(text)))
    return template.render


def _jinja(node: Node, var: str | None) -> str:
    if isinstance(node, Text):
        return node.value if "{" not in node.value else f"{{% raw %}}{node.value}{{% endraw %}}"
    if isinstance(node, Join):
        body = "".join(_jinja(n, node.var) for n in node.body)
        return (
            f"{{% if items %}}{node.prefix}{{% for {node.var} in items %}}"
            f"{{% if not loop.first %}}{node.sep}{{% endif %}}{body}{{% endfor %}}{{% endif %}}"
        )
    if node.name == var and node.field is None:
        return "{{ loop.index }}"
    expr = node.name if node.field is None else f"{node.name}.{node.field}"
    kind = _type(node.field or node.name, item=node.field is not None)
    if kind is ParamType.MONEY:
        return f"{{{{ {expr}|money|esc }}}}"
    if kind is ParamType.DATETIME:
        return f"{{{{ {expr}|isodate|esc }}}}"
    return f"{{{{ {expr}|txt|esc }}}}"


# -- Jinja2 (sandboxed) filters doing what the template functions do ------------------
def std_cents(value: Any) -> int:
    return int(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def std_number(value: Any, places: int) -> str:
    step = Decimal(1).scaleb(-places)
    return str(Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP))


def std_date_in(value: Any, fmt: str, zone: str) -> str:
    return datetime.fromisoformat(str(value)).astimezone(ZoneInfo(zone)).strftime(fmt)


def std_unix(value: Any) -> int:
    return (datetime.fromisoformat(str(value)) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        seconds=1
    )


def std_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


def std_map(text: str, table: Mapping[str, str], otherwise: str) -> str:
    return table.get(text, otherwise)


def jinja_functions_renderer(text: str, context: str) -> Renderer:
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.filters.update(
        txt=std_text,
        esc=ESCAPE[context],
        dflt=lambda value, fallback: value or fallback,
        pbmap=std_map,
        cents=std_cents,
        number=std_number,
        date_in=std_date_in,
        unix=std_unix,
        sha256=std_sha256,
        trunc=lambda value, length: value[:length],
    )
    env.globals["STATUS_CODES"] = {"PENDING": "0", "APPROVED": "1", "REVERSED": "2"}
    return env.from_string(text).render


# -- a naive renderer: one re.sub over the text, stdlib formatters per value ----------
NAIVE = re.compile(
    r'\{join\(items,\s*(\w+),\s*"((?:[^"\\]|\\.)*)"(?:,\s*"((?:[^"\\]|\\.)*)")?'
    r'(?:,\s*"((?:[^"\\]|\\.)*)")?\s*\)\}|\\([{}])|\{(\w+)(?:\.(\w+))?\}'
)
UNESCAPE = re.compile(r"\\([\"\\{}])")


def naive_renderer(text: str, context: str) -> Renderer:
    escape = ESCAPE[context]

    def value(name: str, raw: Any, item: bool = False) -> str:
        return escape(FORMAT.get(_type(name, item), std_text)(raw))

    def render(params: Mapping[str, Any]) -> str:
        def sub(match: re.Match[str], item: Mapping[str, Any] | None = None) -> str:
            var, body, sep, prefix, brace, name, field = match.groups()
            if body is not None:
                rows = [
                    _naive_row(body, var, it, n, sub) for n, it in enumerate(params["items"], 1)
                ]
                return _unescape(prefix or "") + _unescape(sep or "").join(rows) if rows else ""
            if brace is not None:
                return str(brace)
            if item is not None and field is not None:
                return value(field, item.get(field), item=True)
            return value(name, params.get(name))

        return NAIVE.sub(sub, text)

    return render


def _unescape(text: str) -> str:
    return UNESCAPE.sub(r"\1", text)


def _naive_row(body: str, var: str, item: Mapping[str, Any], n: int, sub: Any) -> str:
    # Escaped braces become placeholders so they are not taken for expressions.
    hidden = body.replace("\\{", "\x01").replace("\\}", "\x02").replace(f"{{{var}}}", str(n))
    filled = NAIVE.sub(lambda m: sub(m, item), _unescape(hidden))
    return filled.replace("\x01", "{").replace("\x02", "}")


# -- timing -------------------------------------------------------------------------
def best_rate(render: Renderer, params: Mapping[str, Any], seconds: float, repeats: int) -> float:
    """Renders per second: the best of ``repeats`` runs of about ``seconds`` each."""
    loops = _calibrate(render, params, seconds)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            render(params)
        best = min(best, time.perf_counter() - start)
    return loops / best


def _calibrate(render: Renderer, params: Mapping[str, Any], seconds: float) -> int:
    loops = 10
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            render(params)
        if time.perf_counter() - start >= seconds / 5 or loops >= 10_000_000:
            return max(10, int(loops * seconds / max(time.perf_counter() - start, 1e-9) / 5 * 5))
        loops *= 4


def renderers(text: str, context: str) -> dict[str, Renderer]:
    """The three renderers of one template."""
    return {
        "postback": compile_template(text, context).render,
        "jinja2": jinja_renderer(text, context),
        "naive": naive_renderer(text, context),
    }


def run_case(text: str, context: str, params: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """Check the three renderers agree byte for byte, then time each."""
    return _timed(renderers(text, context), params, mode)


def function_renderers(text: str, jinja_text: str, context: str) -> dict[str, Renderer]:
    """The two renderers of a template with functions (ours, and Jinja2 with filters)."""
    return {
        "postback": compile_template(text, context).render,
        "jinja2": jinja_functions_renderer(jinja_text, context),
    }


def run_function_case(
    text: str, jinja_text: str, context: str, params: Mapping[str, Any], mode: str
) -> dict[str, Any]:
    """Check both renderers agree byte for byte, then time each."""
    return _timed(function_renderers(text, jinja_text, context), params, mode)


def _timed(found: dict[str, Renderer], params: Mapping[str, Any], mode: str) -> dict[str, Any]:
    outputs = {name: render(params) for name, render in found.items()}
    expected = outputs["postback"]
    for name, output in outputs.items():
        assert output.encode() == expected.encode(), f"{name} differs:\n{output}\n{expected}"
    seconds, repeats = MODES[mode]
    rates = {name: best_rate(render, params, seconds, repeats) for name, render in found.items()}
    figures: dict[str, Any] = {
        "renders_per_second": {name: round(rate) for name, rate in rates.items()}
    }
    for other in ("jinja2", "naive"):
        if other in rates:
            figures[f"vs_{other}"] = round(rates["postback"] / rates[other], 2)
    figures["output_bytes"] = len(expected.encode())
    return figures


def run(mode: str = "quick") -> dict[str, Any]:
    """Run the benchmark (mode ``smoke``, ``quick`` or ``full``); return the figures."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    cases = {name: run_case(*case, mode) for name, case in CASES.items()}
    cases |= {name: run_function_case(*case, mode) for name, case in WITH_FUNCTIONS.items()}
    met = all(
        cases[c][k] >= target for c in cases for k, target in TARGETS.items() if k in cases[c]
    )
    return {
        "benchmark": "template",
        "mode": mode,
        "python": platform.python_version(),
        "jinja2": jinja2.__version__,
        "targets": TARGETS,
        "targets_met": met,
        "cases": cases,
    }


def write(results: dict[str, Any], path: Path = RESULTS) -> Path:
    """Save the figures as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


if __name__ == "__main__":
    figures = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    print(json.dumps(figures, indent=2))
    print(f"written to {write(figures)}")
