"""The ``parity`` command line: one module per command group, one error handler.

Exit codes: 0 success, 1 failure (any parity error, or a ``--strict`` gate that tripped),
2 usage error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from parity.cli import (
    cdc,
    demo,
    lifecycle,
    monitor,
    registry,
    repo,
    retrain,
    serve,
    stream,
    sync,
    ui,
)
from parity.cli.render import err_console
from parity.errors import ParityError

if TYPE_CHECKING:
    # typer 0.29 vendors click; the group's context is that copy's Context.
    from typer import _click


class ParityCommands(TyperGroup):
    """The command group: a :class:`~parity.errors.ParityError` from any command becomes its
    message on stderr and exit code 1 (``PARITY_DEBUG=1`` re-raises it, with a traceback).

    Usage errors are click's own (exit 2); anything else is a bug and shows its traceback.

    Example:
        >>> from typer.testing import CliRunner
        >>> CliRunner().invoke(app, ["--repo", "/nonexistent", "list"]).exit_code
        1
    """

    def invoke(self, ctx: _click.Context) -> object:
        """Run the command; map a parity error to its message and exit code 1."""
        try:
            return super().invoke(ctx)
        except ParityError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            if os.environ.get("PARITY_DEBUG"):
                raise
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=ParityCommands,
    name="parity",
    help="parity: a feature store with a closed retraining loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from parity import __version__

        typer.echo(f"parity {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    repo_path: Annotated[
        Path, typer.Option("--repo", "-r", envvar="PARITY_REPO", help="Feature repository folder.")
    ] = Path("."),
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = repo_path


for module in (repo, registry, lifecycle, sync, demo, serve, monitor, stream, retrain, cdc, ui):
    module.register(app)


def run() -> None:
    """Console-script entry point (``parity``): see :class:`ParityCommands` for exit codes.

    Example:
        >>> run()  # doctest: +SKIP
    """
    app()
