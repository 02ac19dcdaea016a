"""Logging set-up: text or JSON lines, secrets scrubbed from every line.

Readable text by default, one JSON object per line with ``POSTBACK_LOG_FORMAT=json``."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

#: Fields a record may carry (``extra=``) that the JSON line shows when present.
CONTEXT = ("delivery_id", "postback_id", "event_id", "outcome", "destination")
# Signing secrets, and API keys (``pbk_...``), wherever a message might carry one.
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+|\bpbk_[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """The text with anything that looks like a signing secret or an API key replaced."""
    return _SECRET.sub(REDACTED, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message`` with the context fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as readable text."""
        text = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT
            if getattr(record, name, None) is not None
        )
        return scrub(f"{text} [{context}]" if context else text)


def setup(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every logger's records (uvicorn's too) to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin at each start
