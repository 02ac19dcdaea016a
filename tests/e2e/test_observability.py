"""A real `postback worker` process: its /metrics (parsed with prometheus_client) and its
log lines (text by default, JSON with POSTBACK_LOG_FORMAT=json), never with a secret."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from postback.config import Settings
from postback.domain.records import (
    AccountKind,
    Event,
    EventTopic,
    PartnerType,
    PostbackConfig,
    PostbackKind,
)
from postback.service.usecases import Service
from postback.storage import open_store
from tests.apiclient import free_port
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.slow


@contextmanager
def worker(pg_url: str, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    environ = {
        **os.environ,
        "POSTBACK_DATABASE_URL": pg_url,
        "POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "postback", "worker", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _setup(pg_url: str, url: str) -> tuple[Service, str]:
    store = open_store(pg_url)
    await store.migrate()
    service = Service(store, Settings(database_url=pg_url))
    partner = await store.create_account("P", AccountKind.PARTNER, PartnerType.CASHBACK, "h")
    cfg = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url=url)
    postback = await store.create_postback(partner.id, cfg)
    return service, postback.id


async def _event(service: Service, partner_id: str, n: int) -> None:
    data = {"MediaPartnerId": partner_id, "CampaignId": "c", "ActionTrackerId": "t"}
    event = Event(
        f"e{n}", EventTopic.ACTION_TRACKED, datetime.now(UTC), {**data, "ActionId": f"A{n}"}
    )
    await service.ingest([event])


async def _scrape(session: aiohttp.ClientSession, port: int) -> dict[str, float]:
    """Every sample of the exposition, keyed ``name{label=value,...}``."""
    async with session.get(f"http://127.0.0.1:{port}/metrics") as reply:
        text = await reply.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


async def _until(check: object, timeout: float = 20.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.1)


async def test_worker_serves_its_metrics_and_a_delivery_moves_them(
    pg_url: str, rec: Receiver
) -> None:
    service, pid = await _setup(pg_url, rec.url("/ok?a={ActionId}"))
    postback = await service.store.get_postback(pid, None)
    port = free_port()
    try:
        with worker(pg_url, "--metrics-port", str(port)):
            async with aiohttp.ClientSession() as session:
                before: dict[str, float] = {}

                async def up() -> bool:
                    nonlocal before
                    try:
                        before = await _scrape(session, port)
                    except aiohttp.ClientError:
                        return False
                    return True

                for _ in range(100):
                    if await up():
                        break
                    await asyncio.sleep(0.1)
                delivered = "postback_deliveries_total{kind=action_lifecycle,outcome=delivered}"
                assert before.get(delivered, 0.0) == 0.0
                assert "postback_due_backlog{}" in before
                assert "postback_oldest_due_age_seconds{}" in before

                await _event(service, postback.owner_id, 1)
                await _until(lambda: len(rec.seen) == 1)
                after: dict[str, float] = {}
                for _ in range(100):
                    after = await _scrape(session, port)
                    if after.get(delivered) == 1.0:
                        break
                    await asyncio.sleep(0.1)
        assert after[delivered] == 1.0
        assert after["postback_attempts_total{outcome=delivered}"] == 1.0
        assert after["postback_send_seconds_count{}"] == before["postback_send_seconds_count{}"] + 1
        assert after["postback_retries_total{}"] == 0.0
    finally:
        await service.aclose()


async def _run_and_capture(pg_url: str, rec: Receiver, **env: str) -> tuple[str, str, Service, str]:
    """A worker sends one delivery that fails (a 500); its stderr after SIGTERM."""
    rec.script("/fail", (500, "no", {}))
    service, pid = await _setup(pg_url, rec.url("/fail?a={ActionId}&token=tok-SECRET-1"))
    postback = await service.store.get_postback(pid, None)
    with worker(pg_url, **env) as proc:
        await _event(service, postback.owner_id, 1)
        await _until(lambda: len(rec.seen) == 1)
        await asyncio.sleep(0.5)  # the attempt is judged and logged
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=20)
    secret = (await service.store.signing_secret(pid, None)).secret
    return err, secret, service, pid


async def test_json_logs_are_one_object_per_line_with_ids_and_no_secret(
    pg_url: str, rec: Receiver
) -> None:
    err, secret, service, pid = await _run_and_capture(pg_url, rec, POSTBACK_LOG_FORMAT="json")
    try:
        lines = [json.loads(line) for line in err.splitlines() if line.strip()]
        [attempt] = [x for x in lines if x.get("delivery_id")]
        seen_id = rec.seen[0].headers["webhook-id"]
        assert attempt["delivery_id"] == seen_id
        assert attempt["postback_id"] == pid
        assert attempt["event_id"] == "e1"
        assert attempt["outcome"] == "status"
        assert attempt["level"] == "info"
        assert {"time", "message"} <= attempt.keys()
        assert secret not in err and "whsec_" not in err and "tok-SECRET-1" not in err
    finally:
        await service.aclose()


async def test_text_logs_by_default_are_readable_lines(pg_url: str, rec: Receiver) -> None:
    err, secret, service, pid = await _run_and_capture(pg_url, rec)
    try:
        [line] = [x for x in err.splitlines() if "delivery_id=" in x]
        assert not line.startswith("{")
        assert " INFO postback.worker: attempt 1 of dlv_" in line
        assert f"postback_id={pid}" in line and "outcome=status" in line
        assert secret not in err and "tok-SECRET-1" not in err
    finally:
        await service.aclose()


def test_a_metrics_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"}
        done = subprocess.run(
            [sys.executable, "-m", "postback", "worker", "--metrics-port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"--metrics-port {port}: cannot listen" in done.stderr
    assert "Traceback" not in done.stderr
