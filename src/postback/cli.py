"""The ``postback`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Postback: render, send, retry and log postbacks.")


@app.command()
def version() -> None:
    """Print the version."""
    from postback import __version__

    typer.echo(__version__)
