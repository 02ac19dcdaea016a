"""The ASGI application: FastAPI, with OpenAPI at /openapi.json."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postback import __version__
from postback.api import routes
from postback.config import Settings
from postback.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    StoreError,
    ValidationProblem,
    problem,
)
from postback.service.usecases import Service
from postback.storage import open_store
from postback.web.routes import web

log = logging.getLogger("postback.api")
Stopper = Callable[[], Awaitable[None]]
Hook = Callable[[Service], Awaitable[Stopper | None]]


class BodyLimit:
    """Refuse request bodies over a size with 413, counting bytes as they arrive.

    A body without a Content-Length (chunked) is counted as it is read; once it goes over,
    reading raises, and whatever response the application then starts (FastAPI turns a
    failed body read into a 400) is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        over = started = False

        async def counting() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                over = True
                raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:  # the application's own answer to a body it could not read
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, guarded)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body over {self.max_bytes} bytes; send smaller batches"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _problems(status: int, problems: list[Problem]) -> JSONResponse:
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
                problem(
                    ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                    err["type"],
                    err["msg"],
                )
                for err in exc.errors()
            ],
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> Response:
        return JSONResponse({"detail": str(exc) or "not found"}, 404)

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> Response:
        return JSONResponse({"detail": str(exc)}, 403)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> Response:
        return JSONResponse({"detail": str(exc)}, 409)

    @app.exception_handler(StoreError)
    async def unavailable(request: Request, exc: StoreError) -> Response:
        log.error(
            "503 for %s %s: the database failed: %s",
            request.method,
            request.url.path,
            store_cause(exc),
        )
        return JSONResponse({"detail": "the database is unavailable; try again"}, 503)

    @app.exception_handler(_TooLarge)
    async def too_large(_: Request, exc: _TooLarge) -> Response:
        return JSONResponse({"detail": "request body too large; send smaller batches"}, 413)


def store_cause(exc: StoreError) -> str:
    """The driver's own message (its class and first line), never the statement's
    parameters, which may hold event data."""
    cause: BaseException = exc.__cause__ or exc
    cause = getattr(cause, "orig", None) or cause  # SQLAlchemy's wrapper -> the DB-API's
    cause = cause.__cause__ or cause  # the DB-API adapter's -> the driver's own
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__module__}.{type(cause).__qualname__}: {first}"


def operation_id(route: APIRoute) -> str:
    """A short, stable operationId: the route function's name (``create_postback``), so
    clients generated from /openapi.json get methods named after what they do."""
    return route.name


def create_app(settings: Settings, on_start: Hook | None = None) -> FastAPI:
    """The service over the store at ``settings.database_url``; ``on_start`` runs once the
    store is migrated (the CLI uses it to bootstrap keys, the demo and the workers)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(
            settings.database_url, synchronous_commit=settings.worker_synchronous_commit
        )
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
