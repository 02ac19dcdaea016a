"""Serve the web screen: ``/`` redirects to ``/ui``, one static page and its files.

The page's ES modules and style sheet come from ``/ui/static/`` as they are (no build
step). The page calls the JSON API with the API key the user types in; nothing here
touches the store."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from postback.errors import NotFound

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# The page loads nothing from elsewhere and talks only to this origin.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

web = APIRouter(include_in_schema=False)


@web.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=307)


@web.get("/ui")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@web.get("/ui/static/{name}")
async def asset(name: str) -> FileResponse:
    """Only the page's own files, by exact name: no paths, no listing."""
    kind = TYPES.get(Path(name).suffix)
    if kind is None or name not in _assets():
        raise NotFound("no such file")
    return FileResponse(STATIC / name, media_type=kind, headers=HEADERS)


def _assets() -> frozenset[str]:
    return frozenset(p.name for p in STATIC.iterdir() if p.is_file())
