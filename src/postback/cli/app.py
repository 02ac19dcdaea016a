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


PROCESSES_HELP = (
    "processes that deliver, all on one database (default: one per core; "
    "1 on SQLite, which takes one writer)"
)


def _process_count(settings: Settings, asked: int | None) -> int:
    from postback.cli.processes import cores, count_for
    from postback.errors import ConfigError

    try:
        return count_for(settings.database_url, asked, cores())
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    demo: bool = typer.Option(False, help="create a demo setup and print a curl command"),
    workers: bool = typer.Option(True, help="run the delivery workers in this process"),
    processes: int | None = typer.Option(
        None,
        "--processes",
        min=1,
        help=PROCESSES_HELP + "; this process serves the API and delivers, the others only deliver",
    ),
) -> None:
    """Start the HTTP API, the web screen (/ui) and (unless --no-workers) the delivery workers."""
    from postback.cli.processes import shared_metrics

    settings = _settings()
    if processes is not None and not workers:
        typer.echo(
            "error: --processes counts processes that deliver; --no-workers has none", err=True
        )
        raise typer.Exit(2)
    count = _process_count(settings, processes) if workers else 1
    with shared_metrics(count):  # before prometheus_client is imported
        from postback.cli import serve as server

        code = server.run(settings, host, port, demo, workers=workers, processes=count)
    if code:
        raise typer.Exit(code)


@app.command()
def worker(
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="serve the workers' Prometheus metrics on this port",
    ),
    metrics_host: str = typer.Option("127.0.0.1", help="address for --metrics-port"),
    processes: int | None = typer.Option(None, "--processes", min=1, help=PROCESSES_HELP),
) -> None:
    """Run delivery workers until SIGTERM (in-flight sends are finished first)."""
    from postback.cli.processes import shared_metrics
    from postback.errors import ConfigError

    settings = _settings()
    count = _process_count(settings, processes)
    with shared_metrics(count):  # before prometheus_client is imported
        from postback.cli import worker as runner

        try:
            code = runner.run(settings, metrics_port, metrics_host, count)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)


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
    from postback.cli.delivery_commands import problem_text
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

    from postback.cli import delivery_commands as commands
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

    from postback.cli import delivery_commands as commands
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

    from postback.cli import delivery_commands as commands
    from postback.domain.records import Replay

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
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="only say what would be deleted"),
    days: float | None = typer.Option(
        None, min=0.0, help="keep this many days (default: POSTBACK_RETENTION_DAYS, 30)"
    ),
) -> None:
    """Delete attempts (with their stored replies) older than the retention period, in
    small batches; with --dry-run, say how many would go."""
    import asyncio
    from datetime import UTC, datetime

    from postback.delivery import retention
    from postback.errors import PostbackError
    from postback.storage import open_store

    settings = _settings()
    keep = settings.retention_days if days is None else days
    if not keep:
        typer.echo("retention is off (0 days): nothing is deleted")
        return
    before = retention.cutoff(datetime.now(UTC), keep)

    async def go() -> int | None:
        store = open_store(settings.database_url)
        try:
            if dry_run:
                return await store.count_old_attempts(before)
            return await retention.prune(store, before)
        finally:
            await store.close()

    try:
        count = asyncio.run(go())
    except PostbackError as exc:
        raise _fail(exc) from None
    when = before.isoformat(timespec="seconds")
    if count is None:
        typer.echo("another process is deleting old attempts now; try again later")
    elif dry_run:
        typer.echo(f"would delete {count} attempts started before {when}")
    else:
        typer.echo(f"deleted {count} attempts started before {when}")


keys = typer.Typer(no_args_is_help=True, help="An account's API keys: list, create, revoke.")
app.add_typer(keys, name="keys")
ACCOUNT = typer.Argument(..., metavar="ACCOUNT_ID", help="the account's id, or 'operator'")


@keys.command("list")
def keys_list(account_id: str = ACCOUNT) -> None:
    """List the account's keys (revoked ones too), tab-separated."""
    import asyncio

    from postback.cli import delivery_commands as commands
    from postback.errors import PostbackError

    settings = _settings()
    try:
        found = asyncio.run(
            commands.with_service(settings, lambda s: commands.list_keys(s, account_id))
        )
    except PostbackError as exc:
        raise _fail(exc) from None
    typer.echo("\n".join(commands.key_lines(found)))


@keys.command("create")
def keys_create(account_id: str = ACCOUNT) -> None:
    """Create a key for the account and print it: it is shown this once."""
    import asyncio

    from postback.cli import delivery_commands as commands
    from postback.errors import PostbackError

    settings = _settings()
    try:
        record, key = asyncio.run(
            commands.with_service(settings, lambda s: commands.create_key(s, account_id))
        )
    except PostbackError as exc:
        raise _fail(exc) from None
    typer.echo(f"key {record.id} (shown once, keep it now):\n{key}")


@keys.command("revoke")
def keys_revoke(
    account_id: str = ACCOUNT,
    key_id: str = typer.Argument(..., metavar="KEY_ID", help="the key's id (key_...)"),
) -> None:
    """Revoke one of the account's keys: refused at once by every API process."""
    import asyncio

    from postback.cli import delivery_commands as commands
    from postback.errors import PostbackError

    settings = _settings()
    try:
        record = asyncio.run(
            commands.with_service(settings, lambda s: commands.revoke_key(s, account_id, key_id))
        )
    except PostbackError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked {record.id} at {record.revoked_at}")


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

    from postback.cli.template_io import (
        InputError,
        check_context,
        event_kind,
        load_params,
        point_at,
    )
    from postback.domain.catalogue import catalogue_for
    from postback.template import TemplateError, compile_template

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

    from postback.cli.template_io import InputError, catalogue_tables, event_kind

    try:
        tables = catalogue_tables(event_kind(kind))
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    console = Console()
    for table in tables:
        console.print(table)
