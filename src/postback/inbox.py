"""The built-in inbox: a URL that records what it receives, for users with no endpoint yet.

Kept in memory (the last 100 requests per inbox), so it is for trying things out on one
machine, not for production traffic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Received:
    at: datetime
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: str


class Inbox:
    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._boxes: dict[str, deque[Received]] = {}

    def record(self, name: str, received: Received) -> None:
        self._boxes.setdefault(name, deque(maxlen=self.keep)).append(received)

    def read(self, name: str) -> list[Received]:
        return list(self._boxes.get(name, ()))
