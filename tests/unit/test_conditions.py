"""CEL conditions: the spec's examples, typing of the variables, unbound names, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from postback.conditions import (
    ConditionError,
    Verdict,
    bind,
    compile_condition,
    evaluate,
    variables,
)
from postback.config import Settings
from postback.domain.catalogue import sample_params
from postback.domain.records import EventKind
from postback.service.usecases import Service

TRACKED, MODIFIED = "action.tracked", "action.modified"
DELTA = 'type != "action.modified" || DeltaPayout != 0.0'
PST = timezone(timedelta(hours=-8))


def run(text: str, topic: str = "action.tracked", **data: Any) -> Verdict:
    params = {**sample_params(EventKind.ACTION), **data}
    return evaluate(compile_condition(text), bind(EventKind.ACTION, topic, params))


@pytest.mark.parametrize(
    ("text", "data", "topic", "holds"),
    [
        ('Status == "APPROVED"', {"Status": "APPROVED"}, "action.tracked", True),
        ('Status == "APPROVED"', {"Status": "PENDING"}, "action.tracked", False),
        ('Payout >= 10.0 && Currency == "USD"', {"Payout": "12.50"}, "action.tracked", True),
        ('Payout >= 10.0 && Currency == "USD"', {"Payout": "9.99"}, "action.tracked", False),
        ('Payout >= 10.0 && Currency == "USD"', {"Currency": "EUR"}, "action.tracked", False),
        ('CampaignId in ["1234", "5678"]', {"CampaignId": 1234}, "action.tracked", True),
        ('CampaignId in ["1234", "5678"]', {"CampaignId": "5678"}, "action.tracked", True),
        ('CampaignId in ["1234", "5678"]', {"CampaignId": 99}, "action.tracked", False),
        ('items.exists(i, i.sku.startsWith("GH"))', {}, "action.tracked", True),
        ('items.exists(i, i.sku.startsWith("GH"))', {"items": [{"sku": "X1"}]}, TRACKED, False),
        (DELTA, {}, "action.tracked", True),
        (DELTA, {"DeltaPayout": "0.00"}, MODIFIED, False),
        (DELTA, {"DeltaPayout": "-2.5"}, MODIFIED, True),
    ],
)  # fmt: skip
def test_the_spec_examples(text: str, data: dict[str, Any], topic: str, holds: bool) -> None:
    assert run(text, topic, **data) == Verdict(holds)


def test_variables_are_typed_by_the_catalogue() -> None:
    found = variables(
        EventKind.ACTION,
        "action.modified",
        {
            "CampaignId": 1234,
            "Payout": "12.50",
            "Numeric1": "3",
            "EventDate": "2026-11-22T10:15:00-08:00",
            "CreationDate": "2026-11-22T10:15:00",
            "iosAdTracking": "true",
            "Money2": None,
            "items": [{"sku": "GH23", "qty": "2", "amt": "7.50", "extra": {"a": None}}],
            "NotInCatalogue": 5,
        },
    )
    assert found["CampaignId"] == "1234"
    assert found["Payout"] == 12.5
    assert found["Numeric1"] == 3
    assert found["EventDate"] == datetime(
        2026, 11, 22, 10, 15, tzinfo=timezone(timedelta(hours=-8))
    )
    assert found["CreationDate"] == datetime(2026, 11, 22, 10, 15, tzinfo=UTC)  # naive: UTC
    assert found["iosAdTracking"] is True
    assert "Money2" not in found and "Money2" not in found["event"]  # null: unbound
    assert found["items"] == [{"sku": "GH23", "qty": 2, "amt": 7.5, "extra": {}}]
    assert found["type"] == "action.modified"
    assert "NotInCatalogue" not in found and found["event"]["NotInCatalogue"] == 5


def test_has_tests_for_a_parameter_the_event_does_not_carry() -> None:
    assert run("has(event.PromoCode)") == Verdict(True)
    assert run("has(event.Money2)") == Verdict(False)  # null in the sample
    assert run("has(event.Money3)", Money3="1.00") == Verdict(True)
    assert run("!has(event.Money2) || Money2 > 1.0") == Verdict(True)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Money2 > 1.0", "Money2"),  # unbound
        ("Numeric1 / Numeric2 > 0", "division by zero"),
        ('Status + 1 == "x"', "string + int"),  # wrong type
        ("Payout", "not true or false"),
        ("NoSuchName == 1", "NoSuchName"),
    ],
)
def test_evaluation_errors_are_a_verdict_not_an_exception(text: str, words: str) -> None:
    verdict = run(text)
    assert verdict.holds is False
    assert verdict.error is not None and words in verdict.error


def test_timestamps_ints_bools_and_lists() -> None:
    assert run('EventDate > timestamp("2026-11-22T18:00:00Z")') == Verdict(True)
    assert run('EventDate < timestamp("2026-11-22T18:15:00Z")') == Verdict(False)
    assert run("Numeric1 == 3 && Numeric1 + 1 == 4") == Verdict(True)
    assert run("iosAdTracking") == Verdict(True)
    assert run("size(items) == 3 && items.all(i, i.qty >= 1)") == Verdict(True)
    bullets = bind(
        EventKind.CATALOG_CHANGE, "catalog.item_changed", sample_params("catalog_change")
    )
    assert evaluate(compile_condition('"sale" in Labels && Multipack == 1'), bullets) == Verdict(
        True
    )


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("Status ==", 9, "Syntax error"),
        ('Status == "A" &&\n  (Payout > 1.0', 32, "missing ')'"),
        ("   ", 0, "empty"),
        ("x" * 5000, 4096, "at most"),
        ("items.all(a, items.all(b, items.all(c, items.exists(d, true))))", 44, "at most 3"),
    ],
)
def test_compile_errors_carry_the_message_and_position(
    text: str, position: int, words: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(text)
    assert caught.value.position == position
    assert words in caught.value.message
    assert "<input>" not in caught.value.message  # the library's echo is left out


def test_the_service_compiles_a_condition_once() -> None:
    service = Service(None, Settings(database_url="sqlite:///unused.db"))  # type: ignore[arg-type]
    first = service.condition('Status == "APPROVED"')
    assert service.condition('Status == "APPROVED"') is first
    broken = service.condition("Status ==")  # saved before a library change, say
    assert isinstance(broken, ConditionError)
