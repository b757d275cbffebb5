"""Version lifecycle commands: ``promote``, ``deprecate``, ``retire``, ``repin``."""

from __future__ import annotations

from typing import Annotated

import typer

from parity.cli.render import console, print_json, render_plan
from parity.store import FeatureStore

RefArgument = Annotated[str, typer.Argument(help="NAME@vN")]
MessageOption = Annotated[
    str, typer.Option("--message", "-m", help="Why: recorded in the audit log.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _move(ctx: typer.Context, action: str, ref: str, message: str, as_json: bool) -> None:
    with FeatureStore(ctx.obj) as store:
        record = getattr(store, action)(ref, message=message)
    if as_json:
        print_json(record)
    else:
        console.print(f"{record.kind.label} {record.ref} is now [bold]{record.state.value}[/].")


def promote(
    ctx: typer.Context,
    ref: RefArgument,
    message: MessageOption = "",
    force: Annotated[
        bool, typer.Option("--force", help="Skip the sync validation check (audited).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a pending (or deprecated) version serve; view versions must be validated by a sync."""
    with FeatureStore(ctx.obj) as store:
        record = store.promote(ref, message=message, force=force)
    if as_json:
        print_json(record)
    else:
        console.print(f"{record.kind.label} {record.ref} is now [bold]{record.state.value}[/].")


def deprecate(
    ctx: typer.Context, ref: RefArgument, message: MessageOption = "", as_json: JsonOption = False
) -> None:
    """Mark a serving version deprecated; its consumers should move off it."""
    _move(ctx, "deprecate", ref, message, as_json)


def retire(
    ctx: typer.Context, ref: RefArgument, message: MessageOption = "", as_json: JsonOption = False
) -> None:
    """Retire a deprecated or pending version for good."""
    _move(ctx, "retire", ref, message, as_json)


def repin(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Feature service name")],
    message: MessageOption = "",
    as_json: JsonOption = False,
) -> None:
    """Move a feature service onto the newest serving view versions (a new service version)."""
    with FeatureStore(ctx.obj) as store:
        result = store.repin(service, message=message)
    if as_json:
        print_json(result.to_dict())
    else:
        render_plan(result)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    for command in (promote, deprecate, retire, repin):
        app.command()(command)
