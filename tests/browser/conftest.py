"""The browser tests' server: the real app (API and a delivery worker) served by uvicorn
on loopback, SQLite in a temporary directory, delivering to its own built-in inbox."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from postback.api.app import create_app
from postback.config import Settings
from postback.delivery.runner import Stopper, start_in_background
from postback.service import Service
from tests.apiclient import ADMIN, serving


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

    with serving(create_app(settings, workers)) as url:
        yield url
