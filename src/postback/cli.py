"""The ``postback`` command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from postback.config import Settings

app = typer.Typer(no_args_is_help=True, help="Postback: render, send, retry and log postbacks.")


@app.command()
def version() -> None:
    """Print the version."""
    from postback import __version__

    typer.echo(__version__)


def _settings() -> Settings:
    from postback.config import load
    from postback.errors import ConfigError

    try:
        return load()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    demo: bool = typer.Option(False, help="create a demo setup and print a curl command"),
    workers: bool = typer.Option(True, help="run the delivery workers in this process"),
) -> None:
    """Start the API, the web screen and the delivery workers."""
    from postback import server

    server.run(_settings(), host, port, demo, workers)


@app.command()
def worker() -> None:
    """Run a delivery worker until SIGTERM (in-flight sends are finished first)."""
    from postback.delivery import runner

    runner.run(_settings())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    import asyncio

    from postback.storage import open_store

    async def go() -> None:
        store = open_store(_settings().database_url)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(go())
    typer.echo("schema is up to date")
