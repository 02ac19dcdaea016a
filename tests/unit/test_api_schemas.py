"""The API's postback bodies follow PostbackConfig: a field added there is in each."""

from __future__ import annotations

import dataclasses

from postback.api import schemas as s
from postback.domain.records import PostbackConfig, PostbackKind

CONFIG = [f.name for f in dataclasses.fields(PostbackConfig) if f.name != "kind"]


def test_every_configuration_field_is_in_the_bodies() -> None:
    assert [n for n in s.PostbackIn.model_fields if n in CONFIG] == CONFIG
    assert [n for n in s.PostbackOut.model_fields if n in CONFIG] == CONFIG
    assert set(s.PostbackIn.model_fields) - set(CONFIG) == {"kind", "owner_id"}
    assert list(s.PostbackPatch.model_fields) == [n for n in CONFIG if n not in s.FIXED]
    assert set(s.NULLABLE) <= set(s.PostbackPatch.model_fields)


def test_a_created_postback_takes_the_records_defaults() -> None:
    body = s.PostbackIn.model_validate({"kind": "action_lifecycle", "url": "https://x.example/"})
    record = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url="https://x.example/")
    for name in CONFIG:
        value = getattr(record, name)
        assert getattr(body, name) == (dict(value) if name in s.API_TYPES else value), name


def test_limits_and_descriptions_reach_every_body() -> None:
    for model in (s.PostbackIn, s.PostbackOut, s.PostbackPatch):
        schema = model.model_json_schema()["properties"]
        assert "CEL" in schema["condition"]["description"], model
        url = schema["url"]
        lengths = [url.get("maxLength")] + [b.get("maxLength") for b in url.get("anyOf", [])]
        assert 8192 in lengths, model
