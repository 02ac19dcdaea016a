"""Delivery: the worker (claim, send, record), its pure decisions and the sender."""

from __future__ import annotations
