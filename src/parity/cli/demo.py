"""``parity demo``: the main job, end to end on embedded defaults (no servers).

It creates the example fraud-detection repository, registers its definitions, promotes
the first view versions, and shows what the registry now holds. Later stages (training
sets, materialization, serving, retraining) join this story as they land.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.rule import Rule

from parity.cli.render import console, render_pins, render_plan, render_records
from parity.store import FeatureStore


def demo(
    path: Annotated[
        Path | None, typer.Option(help="Where to create the demo repository (default: a temp dir).")
    ] = None,
) -> None:
    """Run parity's main job end to end on embedded defaults."""
    from parity.scaffold import init_repo

    root = path or Path(tempfile.mkdtemp(prefix="parity-demo-")) / "fraud_demo"
    console.print(Rule("1. parity init: an example feature repository with sample data"))
    init_repo(root, project="fraud_demo")
    console.print(f"Repository: {root}")
    with FeatureStore(root) as store:
        console.print(Rule("2. parity plan: every change classified"))
        render_plan(store.plan())
        console.print(Rule("3. parity apply: registered atomically, audited"))
        applied = store.apply(message="demo: first version", actor="parity-demo")
        render_plan(applied, verbose=False)
        console.print(Rule("4. parity promote: first versions start serving"))
        for record in store.list_feature_views():
            store.promote(record.ref, message="demo: initial promotion")
            console.print(f"promoted {record.ref}")
        console.print(Rule("5. parity list"))
        render_records(store.list_entities(), title="Entities")
        render_records(store.list_feature_views(), title="Feature views")
        render_records(store.list_feature_services(), title="Feature services")
        for service in store.list_feature_services():
            console.print(f"[bold]{service.ref}[/]")
            render_pins(store.get_service_pins(service.ref))
        console.print(Rule("6. a second apply of the same repository changes nothing"))
        render_plan(store.plan(), verbose=False)
    console.print(f"[green]Demo complete.[/] Explore it: parity --repo {root} history")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command()(demo)
