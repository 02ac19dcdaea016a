"""The ``postback`` command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from postback.config import Settings
    from postback.errors import PostbackError

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


def _fail(exc: PostbackError, code: int = 2) -> typer.Exit:
    """Print an error (and a hint for database errors); the exit to raise."""
    from postback.commands import problem_text
    from postback.errors import StoreError

    text = problem_text(exc)
    lines = text.splitlines() or [text]
    if isinstance(exc, StoreError):  # the first line says it; the rest is the SQL
        typer.echo(f"error: {lines[0]}", err=True)
        typer.echo(
            "hint: check POSTBACK_DATABASE_URL; a new database needs `postback migrate`",
            err=True,
        )
    else:
        for line in lines:
            typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@app.command("test")
def test_send(
    postback_id: str = typer.Argument(
        ..., metavar="POSTBACK_ID", help="the postback's id (pb_...)"
    ),
    event: str | None = typer.Option(
        None, "--event", "-e", help="JSON file: an event, as posted to /v1/events"
    ),
    event_id: str | None = typer.Option(None, "--event-id", help="a stored event's id"),
) -> None:
    """Send a postback now (no delay, not logged) and print the request, the reply and
    the outcome; exit 1 when it is not delivered. Default: a sample event."""
    import asyncio
    from pathlib import Path

    from postback import commands
    from postback.errors import PostbackError

    settings = _settings()
    try:
        given = commands.send_input(postback_id, None if event is None else Path(event), event_id)
        result = asyncio.run(
            commands.with_service(settings, lambda s: commands.send_test(s, given))
        )
    except PostbackError as exc:
        raise _fail(exc) from None
    typer.echo(commands.show_sent(result))
    if not result.verdict.delivered:
        raise typer.Exit(1)


@app.command()
def replay(
    *,
    postback: str | None = typer.Option(None, "--postback", help="only this postback's"),
    status: str | None = typer.Option(None, help="delivered or failed"),
    action_id: str | None = typer.Option(None, "--action-id", help="only this action's"),
    since: str | None = typer.Option(None, help="created at or after, e.g. 2026-11-23T10:00:00Z"),
    until: str | None = typer.Option(None, help="created before (same format)"),
    everything: bool = typer.Option(False, "--all", help="with no filter: every finished delivery"),
    wait: bool = typer.Option(
        True, help="show a progress bar until every delivery is sent (--no-wait: return at once)"
    ),
) -> None:
    """Send finished deliveries again now (the workers pick them up), by the filters of
    POST /v1/deliveries/replay; print how many, then show their progress until all are
    sent (delivered, failed or retrying)."""
    import asyncio

    from postback import commands
    from postback.errors import PostbackError

    settings = _settings()
    try:
        flt = commands.replay_filter(
            postback_id=postback,
            status=status,
            action_id=action_id,
            since=since,
            until=until,
            everything=everything,
        )
        started = asyncio.run(
            commands.with_service(settings, lambda s: commands.replay(s, flt, everything))
        )
        count = started.total
        typer.echo(f"replayed {count} deliver{'y' if count == 1 else 'ies'} (replay {started.id})")
        if wait and count:
            _watch_replay(settings, started.id)
    except PostbackError as exc:
        raise _fail(exc) from None


def _watch_replay(settings: Settings, replay_id: str) -> None:
    """A rich progress bar of a replay, until its deliveries are all sent."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from postback import commands
    from postback.domain import Replay

    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("replay", total=None, detail="")

        def show(progress: Replay) -> None:
            done = progress.total - progress.waiting
            detail = (
                f"delivered {progress.delivered} · failed {progress.failed} · "
                f"retrying {progress.retrying}"
            )
            bar.update(task, total=progress.total, completed=done, detail=detail)

        try:
            final = asyncio.run(
                commands.with_service(settings, lambda s: commands.watch_replay(s, replay_id, show))
            )
        except KeyboardInterrupt:
            bar.stop()
            typer.echo(f"stopped watching; replay {replay_id} goes on (GET /v1/replays/ID)")
            raise typer.Exit(130) from None
    typer.echo(commands.replay_summary(final))


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
