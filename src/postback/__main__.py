"""`python -m postback` is the `postback` command."""

from __future__ import annotations

from postback.cli.app import app

app()
