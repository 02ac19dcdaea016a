"""The ASGI application: FastAPI, with OpenAPI at /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postback import __version__
from postback.api import routes
from postback.config import Settings
from postback.errors import Conflict, NotFound, StoreError, ValidationProblem
from postback.service import Service
from postback.storage import open_store
from postback.web.routes import web

Stopper = Callable[[], Awaitable[None]]
Hook = Callable[[Service], Awaitable[Stopper | None]]


class BodyLimit:
    """Refuse request bodies over a size with 413, counting bytes as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        return wrapped

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.max_bytes} bytes; send smaller batches"}, 413
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def _problems(status: int, problems: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ValidationProblem)
    async def invalid(_: Request, exc: ValidationProblem) -> Response:
        return _problems(422, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> Response:
        return _problems(
            422,
            [
                {
                    "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                    "code": err["type"],
                    "position": None,
                    "message": err["msg"],
                }
                for err in exc.errors()
            ],
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> Response:
        return JSONResponse({"detail": str(exc) or "not found"}, 404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> Response:
        return JSONResponse({"detail": str(exc)}, 409)

    @app.exception_handler(StoreError)
    async def unavailable(_: Request, exc: StoreError) -> Response:
        return JSONResponse({"detail": "the database is unavailable; try again"}, 503)

    @app.exception_handler(_TooLarge)
    async def too_large(_: Request, exc: _TooLarge) -> Response:
        return JSONResponse({"detail": "request body too large; send smaller batches"}, 413)


def operation_id(route: APIRoute) -> str:
    """A short, stable operationId: the route function's name (``create_postback``), so
    clients generated from /openapi.json get methods named after what they do."""
    return route.name


def create_app(settings: Settings, on_start: Hook | None = None) -> FastAPI:
    """The service over the store at ``settings.database_url``; ``on_start`` runs once the
    store is migrated (the CLI uses it to bootstrap keys, the demo and the workers)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.database_url)
        await store.migrate()
        service = Service(store, settings)
        app.state.service = service
        stopper = await on_start(service) if on_start is not None else None
        try:
            yield
        finally:
            if stopper is not None:
                await stopper()
            await service.aclose()

    app = FastAPI(
        title="Postback",
        version=__version__,
        description="Render, send, retry and log partner postbacks (event notifications).",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    _install_errors(app)
    app.include_router(routes.health)
    app.include_router(routes.v1)
    app.include_router(routes.public)
    app.include_router(web, include_in_schema=False)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
