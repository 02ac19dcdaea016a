"""`postback serve`: the HTTP API, the web screen and the delivery workers in one process."""

from __future__ import annotations

import dataclasses
import ipaddress

import uvicorn
from rich.console import Console
from rich.panel import Panel

from postback import logs
from postback.api.app import create_app
from postback.cli.demo import curl_command, ensure_demo
from postback.config import Settings
from postback.delivery.runner import Stopper, start_in_background
from postback.service.usecases import Service

console = Console(stderr=True)
LOOPBACK = ipaddress.ip_network("127.0.0.1/32")


def demo_settings(settings: Settings) -> Settings:
    """The demo serves the built-in inbox and delivers to it on 127.0.0.1, so it allows
    that one address, for every postback: a mode for trying things on your own machine."""
    allowed = settings.allowed_networks
    if not any(LOOPBACK.network_address in n for n in allowed):
        allowed = (*allowed, LOOPBACK)
    return dataclasses.replace(settings, allowed_networks=allowed, inbox=True)


def run(settings: Settings, host: str, port: int, demo: bool, workers: bool = True) -> None:
    base_url = f"http://{host}:{port}"
    if demo:
        settings = demo_settings(settings)

    async def on_start(service: Service) -> Stopper | None:
        key = await service.ensure_operator()
        if key is not None:
            console.print(Panel(f"Operator API key (shown once, keep it safe):\n{key}"))
        if demo:
            await _announce_demo(service, base_url, key)
        return start_in_background(service.store, settings) if workers else None

    app = create_app(settings, on_start)
    logs.setup(settings.log_format)
    # log_config=None: uvicorn's records go to the handler set up above, in its format.
    uvicorn.run(app, host=host, port=port, log_level="info", loop="auto", log_config=None)


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
