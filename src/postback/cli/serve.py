"""`postback serve`: the HTTP API, the web screen and the delivery workers in one process
(and, with `--processes N`, N - 1 more worker processes beside it)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import signal
from collections.abc import Callable
from types import FrameType

import uvicorn
from rich.console import Console
from rich.panel import Panel

from postback import logs
from postback.api.app import create_app
from postback.cli.demo import curl_command, ensure_demo
from postback.cli.processes import Children
from postback.config import Settings
from postback.delivery.runner import Stopper, start_in_background
from postback.delivery.worker import collect_less
from postback.service.usecases import Service

console = Console(stderr=True)
LOOPBACK = ipaddress.ip_network("127.0.0.1/32")
STARTUP_FAILURE = 3  # the exit code uvicorn gives when it cannot start (port taken, ...)


def demo_settings(settings: Settings) -> Settings:
    """The demo serves the built-in inbox and delivers to it on 127.0.0.1, so it allows
    that one address, for every postback: a mode for trying things on your own machine."""
    allowed = settings.allowed_networks
    if not any(LOOPBACK.network_address in n for n in allowed):
        allowed = (*allowed, LOOPBACK)
    return dataclasses.replace(settings, allowed_networks=allowed, inbox=True)


def run(
    settings: Settings,
    host: str,
    port: int,
    demo: bool,
    *,
    workers: bool = True,
    processes: int = 1,
) -> int:
    """Serve until SIGTERM or SIGINT; the exit code (1: the worker processes kept failing,
    3: the server could not start)."""
    if demo:
        settings = demo_settings(settings)
    serving = Serving(settings, f"http://{host}:{port}", demo, workers, processes)
    app = create_app(settings, serving.on_start)
    logs.setup(settings.log_format)
    # log_config=None: uvicorn's records go to the handler set up above, in its format.
    config = uvicorn.Config(app, host=host, port=port, log_level="info", log_config=None)
    serving.server = uvicorn.Server(config)
    # uvicorn signals SIGTERM again once it has shut down, for the default action (death
    # by the signal); ending with an exception instead lets what wraps this return (the
    # metrics folder of --processes is removed) and the exit code be 0.
    signal.signal(signal.SIGTERM, _terminated)
    with contextlib.suppress(KeyboardInterrupt, Terminated):
        serving.server.run()
    if not serving.server.started:
        return STARTUP_FAILURE
    return 1 if serving.failed else 0


class Terminated(Exception):
    """SIGTERM, once the server has shut down."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


class Serving:
    """What `serve` starts beside the API: the workers in this process and, with
    ``processes`` > 1, worker processes beside it."""

    def __init__(
        self, settings: Settings, base_url: str, demo: bool, workers: bool, processes: int
    ) -> None:
        self.settings, self.base_url, self.demo = settings, base_url, demo
        self.workers, self.processes = workers, processes
        self.server: uvicorn.Server | None = None
        self.failed = False

    async def on_start(self, service: Service) -> Stopper | None:
        key = await service.ensure_operator()
        if key is not None:
            console.print(Panel(f"Operator API key (shown once, keep it safe):\n{key}"))
        if self.demo:
            await _announce_demo(service, self.base_url, key)
        collect_less()
        if not self.workers:
            return None
        here = start_in_background(service.store, self.settings)
        if self.processes < 2:
            return here
        others = _start_children(self.processes - 1, self.on_failure)

        async def stop_all() -> None:
            await asyncio.gather(others(), here())

        return stop_all

    def on_failure(self) -> None:
        """The worker processes kept failing: stop serving, exit 1."""
        self.failed = True
        if self.server is not None:
            self.server.should_exit = True


def _start_children(count: int, on_failure: Callable[[], None]) -> Stopper:
    """``count`` worker processes beside this one; ``on_failure`` if they keep failing."""
    stop = asyncio.Event()
    task = asyncio.create_task(Children(count).run(stop), name="postback-processes")

    def ended(done: asyncio.Task[int]) -> None:
        if not done.cancelled() and done.result():
            on_failure()

    task.add_done_callback(ended)

    async def stopper() -> None:
        stop.set()
        await task

    return stopper


async def _announce_demo(service: Service, base_url: str, key: str | None) -> None:
    found = await ensure_demo(service, base_url)
    if key is None:
        # Keys are shown once: after the first start, the commands name a variable.
        key = service.settings.admin_key or "$POSTBACK_KEY"
    console.print(
        Panel(
            "Demo ready: a brand, a cashback partner, a program with an event type, a "
            "contract, and a postback that delivers to the built-in inbox.\n"
            "Post a first event, then look at the delivery log and the inbox "
            "(set POSTBACK_KEY to the operator key printed on the first start, if the "
            "commands name it).\n"
            "Demo mode allows deliveries to 127.0.0.1 for every postback; do not use it "
            "in production.",
            title="postback serve --demo",
        )
    )
    # Plain print, not rich: the commands must not be wrapped, so they can be pasted.
    print(curl_command(found, base_url, key), flush=True)
