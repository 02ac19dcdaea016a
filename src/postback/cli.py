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
    """Start the HTTP API, the web screen (/ui) and (unless --no-workers) the delivery workers."""
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


@app.command()
def render(
    template: str = typer.Option(..., "--template", "-t", help="the template text"),
    context: str = typer.Option("url", help="url, query, json, xml, header or text"),
    params: str | None = typer.Option(
        None,
        "--params",
        "-p",
        help="JSON file: parameter values, or an event whose data holds them "
        "(default: a sample event)",
    ),
    kind: str = typer.Option("action", help="action, action_inquiry or catalog_change"),
) -> None:
    """Render a template for an event, or show where and why it is wrong."""
    from pathlib import Path

    from postback.template import TemplateError, compile_template
    from postback.template.catalogue import catalogue_for
    from postback.template.show import InputError, check_context, event_kind, load_params, point_at

    try:
        event = event_kind(kind)
        values = load_params(None if params is None else Path(params), event)
        compiled = compile_template(template, check_context(context), catalogue_for(event))
        typer.echo(compiled.render(values))
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except TemplateError as exc:
        typer.echo(point_at(template, exc.position), err=True)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def parameters(
    kind: str = typer.Argument("action", help="action, action_inquiry or catalog_change"),
) -> None:
    """List the parameters templates of an event kind can use (and item fields)."""
    from rich.console import Console

    from postback.template.show import InputError, catalogue_tables, event_kind

    try:
        tables = catalogue_tables(event_kind(kind))
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    console = Console()
    for table in tables:
        console.print(table)
