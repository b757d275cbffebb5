"""Repository commands: ``init``, ``plan``, ``apply``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from parity.cli.render import console, print_json, render_plan
from parity.store import FeatureStore

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _project_name(folder: str) -> str:
    """A valid project name from a folder name: ``my-repo`` -> ``my_repo``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", Path(folder).name) or "project"
    return f"p_{name}" if name[0].isdigit() else name


def init(
    name: Annotated[str, typer.Argument(help="Folder to create; also the project name.")],
    project: Annotated[
        str | None, typer.Option(help="Project name (default: from the folder name).")
    ] = None,
) -> None:
    """Create an example feature repository (fraud detection) with generated sample data."""
    from parity.scaffold import init_repo

    target = init_repo(Path(name), project=project or _project_name(name))
    console.print(f"Created feature repository [bold]{target}[/]. Next:")
    console.print(f"  cd {target} && parity plan && parity apply -m 'first version' && parity list")


def plan(
    ctx: typer.Context,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if the plan has a breaking change (CI gate).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show what apply would change, with the class of every change."""
    with FeatureStore(ctx.obj) as store:
        result = store.plan()
    if as_json:
        print_json(result.to_dict())
    else:
        render_plan(result)
    if result.refused or (strict and result.has_breaking):
        if not as_json:
            console.print("[red]Plan contains breaking or refused changes (--strict).[/]")
        raise typer.Exit(1)


def apply(
    ctx: typer.Context,
    message: Annotated[
        str, typer.Option("--message", "-m", help="Why: recorded in the audit log.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Register the repository's definitions (atomic; audited)."""
    with FeatureStore(ctx.obj) as store:
        result = store.apply(message=message)
    if as_json:
        print_json(result.to_dict())
        return
    render_plan(result, verbose=False)
    console.print("[green]Applied.[/]" if not result.is_noop else "Nothing to apply.")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command()(init)
    app.command()(plan)
    app.command()(apply)
