"""The HTTP API: the FastAPI app, thin routes that call the service, pydantic schemas."""

from __future__ import annotations
