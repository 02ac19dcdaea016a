"""Every template printed in the seed help pages and in README.md saves as printed, and
the seeds' item-level examples render what the seeds say they render.

The seeds' templates are copied into ``tests/data/printed_templates.json``; when the
seeds folder is there (``../shared/seeds`` beside the clone, as on CI, or
``POSTBACK_SEEDS_DIR``), the copies are checked against it, and under ``CI=true`` a
missing folder fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from postback.template.lexer import EXAMPLE
from tests.apiclient import Api, World, running_api

ROOT = Path(__file__).resolve().parents[2]
PRINTED = json.loads((ROOT / "tests" / "data" / "printed_templates.json").read_text())["templates"]
BASE_URL = "https://partner.example/pb"


def seeds_dir() -> Path | None:
    given = os.environ.get("POSTBACK_SEEDS_DIR")
    candidates = [Path(given)] if given else []
    candidates += [ROOT.parent / "shared" / "seeds", ROOT.parent.parent / "shared" / "seeds"]
    return next((c for c in candidates if c.is_dir()), None)


def _flat(text: str) -> str:
    return " ".join(text.split())


def readme_templates() -> list[dict[str, Any]]:
    """The templates in README.md's code blocks: lines that are URL templates, and the
    ``--template '...'`` of each ``postback render`` example with its ``--context``."""
    readme = (ROOT / "README.md").read_text()
    found: list[dict[str, Any]] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", readme, re.S):
        for raw in block.splitlines():
            line = raw.strip()
            if re.match(r"https?://\S*\{", line):
                found.append({"what": "README code block", "url": line})
            given = re.search(r"--template '([^']*)'", line)
            if given is None:
                continue
            context = re.search(r"--context (\w+)", line)
            where = context.group(1) if context else "url"
            if where == "url":
                found.append({"what": f"README: {line}", "url": given.group(1)})
            else:
                found.append(
                    {"what": f"README: {line}", "body_format": where, "body": given.group(1)}
                )
    return found


def postback_body(entry: dict[str, Any]) -> dict[str, Any]:
    if "body" in entry:
        return {
            "kind": "action_lifecycle",
            "url": BASE_URL,
            "method": "POST",
            "body_format": entry["body_format"],
            "body": entry["body"],
        }
    return {"kind": "action_lifecycle", "url": entry["url"]}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(f"sqlite:///{tmp_path}/printed.db") as client:
        yield client


def test_the_readme_prints_templates() -> None:
    found = readme_templates()
    assert any("{join(items" in e.get("url", "") for e in found)  # the headline template
    assert any(e.get("body_format") == "json" for e in found)
    assert len(found) >= 3


@pytest.mark.parametrize(
    "entry", PRINTED + readme_templates(), ids=lambda e: str(e.get("what", "?"))[:60]
)
async def test_every_printed_template_saves(api: Api, entry: dict[str, Any]) -> None:
    world = await api.world()
    r = await api.call("POST", "/v1/postbacks", world.partner["api_key"], json=postback_body(entry))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "entry", [e for e in PRINTED if "renders" in e], ids=lambda e: str(e["what"])
)
async def test_item_level_examples_render_as_the_seeds_show(
    api: Api, entry: dict[str, Any]
) -> None:
    world: World = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=postback_body(entry))
    event = {**world.action("items-1"), "id": "items-1"}
    event["data"]["items"] = entry["items"]
    preview = await api.ok(
        "POST", f"/v1/postbacks/{postback['id']}/preview", key, json={"event": event}
    )
    assert preview["request"]["url"] == entry["renders"]


async def test_the_hint_for_a_malformed_join_saves_in_a_url(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    # A quote left out, as people do: the join is malformed, and has spaces in it.
    broken = {"kind": "action_lifecycle", "url": BASE_URL + '{join(items, i, "sku{i}, "&")}'}
    r = await api.call("POST", "/v1/postbacks", key, json=broken)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["code"] == "malformed_join"  # and nothing about spaces
    hint = problem["message"].split("write e.g. ", 1)[1]
    assert hint == EXAMPLE
    r = await api.call("POST", "/v1/postbacks", key, json={**broken, "url": BASE_URL + hint})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://partner.example/a b?x={ActionId}", "spaces"),
        ('https://partner.example/pb{join(items, i, "sku {i}={i.sku}", "&", "?")}', "spaces"),
        ('https://partner.example/pb{join(items, i, "sku{i}={i.sku}", " & ", "?")}', "spaces"),
    ],
)
async def test_spaces_the_url_itself_would_carry_are_still_refused(
    api: Api, url: str, fragment: str
) -> None:
    world = await api.world()
    r = await api.call(
        "POST",
        "/v1/postbacks",
        world.partner["api_key"],
        json={"kind": "action_lifecycle", "url": url},
    )
    assert r.status_code == 422
    assert any(fragment in p["message"] and p["field"] == "url" for p in r.json()["detail"])


# -- the copies match the seeds ----------------------------------------------------------------
def _seed_text(folder: Path, name: str) -> str:
    return _flat((folder / name).read_text())


@pytest.fixture
def seeds() -> Path:
    folder = seeds_dir()
    if folder is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the seeds folder (../shared/seeds) is missing on CI")
        pytest.skip("no seeds folder beside the clone (set POSTBACK_SEEDS_DIR)")
    return folder


def test_the_copies_are_printed_in_the_seeds(seeds: Path) -> None:
    for entry in PRINTED:
        text = entry.get("expression") or entry.get("body") or entry["url"]
        assert _flat(text) in _seed_text(seeds, entry["source"]), entry["what"]


def test_every_template_in_the_seeds_is_copied(seeds: Path) -> None:
    copied = {_flat(e.get("expression") or e.get("body") or e["url"]) for e in PRINTED}
    printed: set[str] = set()
    for path in sorted(seeds.glob("*.txt")):
        text = path.read_text()
        for span in re.findall(r"`([^`\n]+)`", text):
            if "{join(" in span or re.match(r"https?://\S*\{", span):
                printed.add(_flat(span))
        for block in re.findall(r"```json\n(.*?)```", text, re.S):
            printed.add(_flat(block))
    assert printed, "no templates found in the seeds"
    assert printed - copied == set()
