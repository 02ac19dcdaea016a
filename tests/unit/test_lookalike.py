"""Text that looks like a parameter but is sent as typed."""

from __future__ import annotations

from postback.template.lookalike import lookalikes

NAMES = ("ActionId", "Payout", "Status")


def _found(text: str) -> list[tuple[int, str]]:
    return [(w.position, w.text) for w in lookalikes(text, NAMES)]


def test_an_unclosed_brace_before_a_parameter_name() -> None:
    assert _found("https://x.example/?payout={Payout") == [(26, "{Payout")]
    assert _found("?p={Payout&a={ActionId}") == [(3, "{Payout")]
    assert "write {Payout}" in lookalikes("{payout ", NAMES)[0].message


def test_spaces_doubled_braces_and_other_platforms_macros() -> None:
    assert _found("?a={ ActionId }") == [(3, "{ ActionId }")]
    assert _found("?a={{ActionId}}") == [(3, "{{ActionId}}")]
    assert _found("?a=%ActionId%&b=[Payout]&c=$Status&d=##Payout##") == [
        (3, "%ActionId%"),
        (16, "[Payout]"),
        (27, "$Status"),
        (37, "##Payout##"),
    ]


def test_what_is_meant_as_written_is_left_alone() -> None:
    for text in (
        "?a={ActionId}&p={Payout}",
        '{ "campaign": "{ActionId}" }',  # lenient braces in a JSON body
        "\\{Payout",  # an escaped brace is text on purpose
        "{Payout|upper}",  # a function chain
        "{i.sku}",
        '{join(items, i, "{i.sku}", ",")}',
        "<Payout>{Payout}</Payout>",  # XML
        "?x={Unknown",  # not a parameter's name: nothing to suggest
        "[1,2]",
        "?price=${Payout}",  # a dollar sign, then the parameter
    ):
        assert _found(text) == [], text
