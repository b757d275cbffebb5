"""``parity demo``: the main job, end to end on embedded defaults (no servers).

It creates the example fraud-detection repository, registers its definitions,
materializes them to the online store (validated, with quarantine and watermarks),
promotes the validated versions, reads a feature vector the way a model would, builds a
point-in-time training set, and runs the closed retraining loop through a concept shift.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.rule import Rule
from rich.table import Table

from parity.cli.render import console, print_table, render_pins, render_plan, render_records
from parity.cli.sync import progress_bars, render_sync_reports
from parity.retrain.demo_story import run_retrain_story
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
        render_plan(store.apply(message="demo: first version", actor="parity-demo"), verbose=False)
        console.print(Rule("4. parity materialize: validated, published, watermarked"))
        end = datetime.now(UTC)
        with progress_bars(enabled=True) as progress:
            reports = store.materialize(end - timedelta(days=400), end, progress=progress)
        render_sync_reports(reports)
        console.print(Rule("5. parity promote: validated versions start serving"))
        for report in reports:
            store.promote(report.ref, message="demo: validated by the first sync")
            console.print(f"promoted {report.ref}")
        render_records(store.list_feature_views(), title="Feature views")
        for service in store.list_feature_services():
            console.print(f"[bold]{service.ref}[/]")
            render_pins(store.get_service_pins(service.ref))
        console.print(Rule("6. get_online_features: the model's vector, in canonical order"))
        response = store.get_online_features(
            feature_service="fraud_detection", entity_rows=[{"user_id": 1, "merchant_id": 1}]
        )
        for name, value, status in zip(
            response.feature_names, response.values[0], response.statuses[0], strict=True
        ):
            console.print(f"  {name:<20} {value!r:<24} {status.value}")
        console.print(Rule("7. training set: point-in-time correct, saved with lineage"))
        labels = pd.read_parquet(root / "data" / "transactions.parquet")
        job = store.get_historical_features(labels, feature_service="fraud_detection")
        saved = job.save("demo_training_set")
        console.print(
            f"saved dataset {saved.lineage.name!r}: {saved.lineage.row_count:,} rows, views "
            + ", ".join(f"{name}@v{version}" for name, version in saved.lineage.views)
        )
        console.print(
            Rule("8. closed loop: drift and a concept shift, detect, retrain, gate, promote")
        )
        story = run_retrain_story(store.retraining, say=lambda text: console.print(f"  {text}"))
        table = Table(title=f"Model quality on the shifted holdout ({story.metric} decides)")
        for column in ("metric", "before (v1)", f"after ({story.champion})"):
            table.add_column(column)
        for metric, before in story.before.items():
            table.add_row(metric, f"{before:.4f}", f"{story.after.get(metric, float('nan')):.4f}")
        print_table(table)
        console.print(Rule("9. a second apply of the same repository changes nothing"))
        render_plan(store.plan(), verbose=False)
    console.print(f"[green]Demo complete.[/] Explore it: parity --repo {root} history")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command()(demo)
