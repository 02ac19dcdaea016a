"""`--processes N`: real worker processes under one parent, on PostgreSQL: a batch sent
once each by both children, one /metrics adding them up, a dead child started again,
SIGTERM stopping them all; children that keep failing; SQLite refusing more than one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from postback.cli.processes import Children, RestartPolicy
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
from tests.e2e.receiver import Receiver, receiver

pytestmark = pytest.mark.slow


@contextmanager
def postback(pg_url: str, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m postback ARGS`` on ``pg_url``; SIGTERM (then SIGKILL) when done."""
    environ = {
        **os.environ,
        "POSTBACK_DATABASE_URL": pg_url,
        "POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-m", "postback", *args], env=environ)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Setup:
    """A migrated database with one postback to the receiver, and a way to add events."""

    def __init__(self, service: Service, partner_id: str) -> None:
        self.service, self.partner_id, self.made = service, partner_id, 0

    async def events(self, count: int) -> None:
        now = datetime.now(UTC)
        batch = [
            Event(
                f"e{self.made + i}",
                EventTopic.ACTION_TRACKED,
                now,
                {
                    "MediaPartnerId": self.partner_id,
                    "CampaignId": "c",
                    "ActionTrackerId": "t",
                    "ActionId": f"A{self.made + i}",
                },
            )
            for i in range(count)
        ]
        self.made += count
        for start in range(0, count, 200):
            await self.service.ingest(batch[start : start + 200])


@pytest.fixture
async def rec() -> AsyncIterator[Receiver]:
    async with receiver() as r:
        yield r


@pytest.fixture
async def setup(pg_url: str, rec: Receiver) -> AsyncIterator[Setup]:
    store = open_store(pg_url)
    await store.migrate()
    service = Service(store, Settings(database_url=pg_url))
    partner = await store.create_account("P", AccountKind.PARTNER, PartnerType.CASHBACK, "h")
    cfg = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url=rec.url("/ok?a={ActionId}"))
    await store.create_postback(partner.id, cfg)
    try:
        yield Setup(service, partner.id)
    finally:
        await service.aclose()


async def listening(pg_url: str, count: int, within: float = 60.0) -> None:
    """Wait until ``count`` workers LISTEN for new work on the test's database."""
    name = pg_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(pg_url)
    try:
        for _ in range(int(within / 0.1)):
            found = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND query ILIKE 'LISTEN%postback_work%'",
                name,
            )
            if found >= count:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"{count} workers did not start listening in {within} s")


async def sent_once(rec: Receiver, total: int, within: float = 60.0) -> None:
    """Wait until the receiver has seen ``total`` deliveries; none of them twice."""
    for _ in range(int(within / 0.05)):
        if len(rec.seen) >= total:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a second send of any of them would show by now
    ids = Counter(s.headers["Postback-Id"] for s in rec.seen)
    assert len(ids) == total, f"{len(ids)} of {total} sent"
    assert max(ids.values()) == 1, "a delivery was sent twice"


def delivered(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "postback_attempts_total" and sample.labels == {
                "outcome": "delivered"
            }:
                return sample.value
    return 0.0


def delivered_by_pid(folder: Path) -> dict[int, float]:
    """Per process: the delivered attempts it wrote to the multiprocess files."""
    out: dict[int, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in multiprocess.MultiProcessCollector.merge([str(path)], accumulate=True):
            for sample in metric.samples:
                if sample.name == "postback_attempts_total" and sample.labels == {
                    "outcome": "delivered"
                }:
                    out[pid] = out.get(pid, 0.0) + sample.value
    return out


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


async def test_two_worker_processes_send_a_batch_once_and_stop_on_sigterm(
    pg_url: str, rec: Receiver, setup: Setup, tmp_path: Path
) -> None:
    total, port, folder = 1000, free_port(), tmp_path / "metrics"
    folder.mkdir()
    args = ("worker", "--processes", "2", "--metrics-port", str(port))
    with postback(pg_url, *args, PROMETHEUS_MULTIPROC_DIR=str(folder)) as parent:
        await listening(pg_url, 2)
        kids = children(parent.pid)
        assert len(kids) == 2
        await setup.events(total)
        await sent_once(rec, total)
        for _ in range(100):  # the last results are written a moment after they are sent
            text = await asyncio.to_thread(scrape, port)
            if delivered(text) >= total:
                break
            await asyncio.sleep(0.1)
        assert delivered(text) == total
        by_pid = delivered_by_pid(folder)
        assert set(by_pid) <= set(kids), by_pid
        assert all(by_pid.get(kid, 0) > 0 for kid in kids), f"one child sent nothing: {by_pid}"
        parent.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(parent.wait, 30)
    assert code == 0
    assert not any(alive(kid) for kid in kids)


async def test_a_worker_process_that_dies_is_started_again(
    pg_url: str, rec: Receiver, setup: Setup
) -> None:
    with postback(pg_url, "worker", "--processes", "2") as parent:
        await listening(pg_url, 2)
        first = children(parent.pid)
        os.kill(first[0], signal.SIGKILL)
        for _ in range(200):
            now = children(parent.pid)
            if len(now) == 2 and first[0] not in now:
                break
            await asyncio.sleep(0.05)
        assert first[1] in now and first[0] not in now and len(now) == 2, now
        await listening(pg_url, 2)
        await setup.events(300)
        await sent_once(rec, 300)
        parent.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(parent.wait, 30) == 0


async def test_serve_with_two_processes_delivers_from_both_and_counts_them_in_one_scrape(
    pg_url: str, rec: Receiver, setup: Setup, tmp_path: Path
) -> None:
    total, port, temp = 1000, free_port(), tmp_path / "tmp"
    temp.mkdir()
    args = ("serve", "--port", str(port), "--processes", "2")
    with postback(pg_url, *args, TMPDIR=str(temp)) as parent:
        await listening(pg_url, 2)
        kids = children(parent.pid)
        assert len(kids) == 1  # the API's process delivers too
        await setup.events(total)
        await sent_once(rec, total)
        for _ in range(100):
            text = await asyncio.to_thread(scrape, port)
            if delivered(text) >= total:
                break
            await asyncio.sleep(0.1)
        assert delivered(text) == total
        assert [p.name for p in temp.iterdir()], "no multiprocess metrics folder"
        parent.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(parent.wait, 30)
    assert code == 0
    assert not alive(kids[0])
    assert not list(temp.iterdir()), "the metrics folder was left behind"


async def test_children_that_keep_failing_stop_the_parent_with_an_error() -> None:
    policy = RestartPolicy(window=60.0, max_failures=3, first_delay=0.01, max_delay=0.05)
    failing = Children(2, policy, command=("-c", "raise SystemExit(3)"))
    stop = asyncio.Event()
    assert await asyncio.wait_for(failing.run(stop), 60) == 1
    assert stop.is_set() and failing.gave_up


async def test_children_told_to_stop_exit_cleanly() -> None:
    sleeper = ("-c", "import time; time.sleep(60)")
    kids = Children(2, command=sleeper)
    stop = asyncio.Event()
    running = asyncio.create_task(kids.run(stop))
    await asyncio.sleep(0.5)
    stop.set()
    # SIGTERM's default action ends the sleepers; the parent reports no failure.
    assert await asyncio.wait_for(running, 30) == 0
    assert not kids.gave_up


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_more_than_one_process_on_sqlite_is_refused(tmp_path: Path, command: str) -> None:
    env = {**os.environ, "POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path}/one.db"}
    done = subprocess.run(
        [sys.executable, "-m", "postback", command, "--processes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--processes 2: SQLite takes one writer at a time" in done.stderr
    assert "Traceback" not in done.stderr


def test_processes_without_workers_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path}/one.db"}
    done = subprocess.run(
        [sys.executable, "-m", "postback", "serve", "--no-workers", "--processes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--no-workers has none" in done.stderr
