"""The ``parity`` command line: one module per command group, one error handler.

Exit codes: 0 success, 1 failure (any parity error, or a ``--strict`` gate that tripped),
2 usage error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from parity.cli import cdc, demo, lifecycle, monitor, registry, repo, retrain, serve, stream, sync
from parity.cli.render import err_console
from parity.errors import ParityError

app = typer.Typer(
    name="parity",
    help="parity: a feature store with a closed retraining loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    ctx: typer.Context,
    repo_path: Annotated[
        Path, typer.Option("--repo", "-r", envvar="PARITY_REPO", help="Feature repository folder.")
    ] = Path("."),
) -> None:
    ctx.obj = repo_path


for module in (repo, registry, lifecycle, sync, demo, serve, monitor, stream, retrain, cdc):
    module.register(app)


def run() -> None:
    """Console-script entry point: maps parity errors to exit code 1 with a clear message.

    Usage errors are click's own (exit 2); anything else is a bug and shows its traceback.
    """
    try:
        app()
    except ParityError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        if os.environ.get("PARITY_DEBUG"):
            raise
        sys.exit(1)
