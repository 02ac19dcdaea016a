"""The built-in inbox: a URL that records what it receives, for users with no endpoint yet.

Kept in memory and bounded (the last 50 requests of at most 200 inboxes, bodies cut at
8 KiB), so it is for trying things out on one machine, not for production traffic. It is
served only when ``POSTBACK_INBOX=1`` or under ``postback serve --demo``.
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


MAX_BODY = 8 * 1024


class Inbox:
    def __init__(self, keep: int = 50, boxes: int = 200) -> None:
        self.keep = keep
        self.boxes = boxes
        self._boxes: dict[str, deque[Received]] = {}

    def record(self, name: str, received: Received) -> None:
        if name not in self._boxes and len(self._boxes) >= self.boxes:
            self._boxes.pop(next(iter(self._boxes)))  # the oldest inbox goes first
        self._boxes.setdefault(name, deque(maxlen=self.keep)).append(received)

    def read(self, name: str) -> list[Received]:
        return list(self._boxes.get(name, ()))
