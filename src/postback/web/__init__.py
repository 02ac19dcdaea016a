"""The web screen: one static page at /ui that calls the JSON API from the browser."""

from __future__ import annotations
