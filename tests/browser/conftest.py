"""The browser tests' server: the real app (API and a delivery worker) served by uvicorn
on loopback, SQLite in a temporary directory, delivering to its own built-in inbox."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from postback.api.app import create_app
from postback.config import Settings
from postback.delivery.runner import Stopper, start_in_background
from postback.service import Service
from tests.apiclient import ADMIN, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app with a worker, allowed to deliver to its own inbox on 127.0.0.1."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/web.db",
        admin_key=ADMIN,
        allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),),
        inbox=True,
        total_timeout=5.0,
    )

    async def workers(service: Service) -> Stopper:
        return start_in_background(service.store, settings)

    app = create_app(settings, workers)
    port = free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    for _ in range(200):
        if instance.started:
            break
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(10)
