"""``postback render`` and ``postback parameters``, driven through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from postback.cli.app import app

runner = CliRunner()


def write(tmp_path: Path, content: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_render_prints_the_rendered_url(tmp_path: Path) -> None:
    params = write(tmp_path, {"ActionId": "A 1", "Payout": 3, "items": [{"sku": "x"}]})
    text = 'https://p.example/?a={ActionId}&p={Payout}{join(items, i, "sku{i}={i.sku}", "&", "&")}'
    result = runner.invoke(app, ["render", "--template", text, "--params", params])
    assert result.exit_code == 0, result.output
    assert result.stdout == "https://p.example/?a=A%201&p=3.00&sku1=x\n"


def test_render_takes_an_event_whose_data_holds_the_values(tmp_path: Path) -> None:
    event = {"id": "e1", "type": "inquiry.created", "data": {"InquiryId": "Q 1"}}
    args = ["render", "-t", '{"q": "{InquiryId}"}', "-p", write(tmp_path, event)]
    result = runner.invoke(app, [*args, "--context", "json", "--kind", "action_inquiry"])
    assert result.exit_code == 0, result.output
    assert result.stdout == '{"q": "Q 1"}\n'


def test_render_without_params_uses_the_sample_event() -> None:
    result = runner.invoke(
        app, ["render", "-t", "{Payout}|{CatalogItemId}", "--kind", "catalog_change"]
    )
    assert result.exit_code == 1
    result = runner.invoke(app, ["render", "-t", "{CurrentPrice}", "--kind", "catalog_change"])
    assert (result.exit_code, result.stdout) == (0, "89.90\n")


def test_a_template_error_shows_a_caret_under_the_expression() -> None:
    text = '{\n  "a": "{ActionId}",\n  "c": "{CampaignID}"\n}'
    result = runner.invoke(app, ["render", "--context", "json", "-t", text])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[:4] == ["{", '  "a": "{ActionId}",', '  "c": "{CampaignID}"', "        ^"]
    assert lines[4] == "}"
    assert lines[5] == "error: unknown parameter {CampaignID} at 31; did you mean {CampaignId}?"
    assert "Traceback" not in result.output


def test_a_render_error_also_points_at_the_expression(tmp_path: Path) -> None:
    params = write(tmp_path, {"Payout": "twelve"})
    result = runner.invoke(app, ["render", "-t", "x={Payout}", "-p", params])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == ["x={Payout}", "  ^"]
    assert "error: bad value for {Payout}" in result.stderr
    assert "'twelve' is not an amount" in result.stderr


def test_a_missing_or_broken_params_file_is_a_clean_message(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["render", "-t", "x", "-p", str(tmp_path / "none.json")])
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: cannot read ")
    assert "No such file" in missing.stderr
    broken = runner.invoke(app, ["render", "-t", "x", "-p", write(tmp_path, "{nope")])
    assert broken.exit_code == 1
    assert "is not valid JSON" in broken.stderr
    listed = runner.invoke(app, ["render", "-t", "x", "-p", write(tmp_path, "[1, 2]")])
    assert listed.exit_code == 1
    assert "must hold a JSON object" in listed.stderr
    for result in (missing, broken, listed):
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output


def test_unknown_context_or_kind_is_a_clean_message() -> None:
    result = runner.invoke(app, ["render", "-t", "x", "--context", "html"])
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        "error: unknown context 'html'; use one of url, query, json, xml, header, text",
    )
    result = runner.invoke(app, ["render", "-t", "x", "--kind", "sale"])
    assert result.exit_code == 1
    assert "use one of action, action_inquiry, catalog_change" in result.stderr


def test_parameters_lists_the_action_catalogue_and_item_fields() -> None:
    result = runner.invoke(app, ["parameters"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "action parameters" in out
    for name in ("CampaignId", "Payout", "LockingDate", "IpAddressPlain", "MediaSourceId"):
        assert name in out
    assert "│ Payout " in out and "│ money " in out
    assert "item fields" in out
    assert "│ cartamt " in out


def test_parameters_of_other_kinds() -> None:
    result = runner.invoke(app, ["parameters", "catalog_change"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "CatalogItemId" in result.stdout and "│ list " in result.stdout
    assert "item fields" not in result.stdout
    assert "Payout" not in result.stdout
    wrong = runner.invoke(app, ["parameters", "sales"])
    assert wrong.exit_code == 1
    assert "unknown kind 'sales'" in wrong.stderr


def test_parameters_lists_the_functions_with_examples() -> None:
    result = runner.invoke(app, ["parameters"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "functions (" in out
    assert "│ cents " in out and "{Payout|cents} → 1250" in out
    assert 'date("FORMAT", "ZONE")' in out
    other = runner.invoke(app, ["parameters", "catalog_change"], env={"COLUMNS": "220"})
    assert "{CurrentPrice|cents} → 8990" in other.stdout


def test_render_shows_functions_and_points_at_a_wrong_one(tmp_path: Path) -> None:
    params = write(tmp_path, {"Text1": " A@B.example ", "Payout": "1.5", "Status": "APPROVED"})
    text = '?em={Text1|trim|lower|md5}&c={Payout|cents}&s={Status|map("APPROVED", "1", "0")}'
    result = runner.invoke(app, ["render", "--template", text, "--params", params])
    assert result.exit_code == 0, result.output
    assert result.stdout == "?em=d3ce9fe2208376bd39cf85fbcc2a90c7&c=150&s=1\n"
    wrong = runner.invoke(app, ["render", "-t", "x={Payout|centz}"])
    assert wrong.exit_code == 1
    assert "x={Payout|centz}\n  ^\n" in wrong.stderr
    assert "unknown function centz; did you mean cents?" in wrong.stderr
