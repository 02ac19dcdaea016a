"""Postback: a self-hosted postback (event notification) platform."""

from __future__ import annotations

__version__ = "0.1.0"
