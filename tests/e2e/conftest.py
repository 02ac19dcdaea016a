"""Fixtures for the end-to-end tests: the rig (store, service, worker) and a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.receiver import Receiver, receiver
from tests.e2e.rig import Rig, rig


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Rig, Receiver]]:
    """A rig on each database, delivering to a scripted receiver."""
    async with receiver() as rec, rig(database_url) as r:
        yield r, rec
