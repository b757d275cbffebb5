"""Retraining commands: ``parity retrain ...`` (one command per pipeline step) and
``parity scheduler``.

Airflow or Prefect call the same commands, one task per step, with one ``--run-id``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from parity.cli.render import console, print_json, print_table
from parity.retrain import Retraining
from parity.store import FeatureStore

app = typer.Typer(
    help="Closed-loop retraining: steps, promotion, rollback, guards.", no_args_is_help=True
)

ModelArg = Annotated[str, typer.Argument(help="Model name (a parity.retrain.Model in the repo).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RunIdOption = Annotated[str | None, typer.Option("--run-id", help="Run id (resume/idempotent).")]


def _store(ctx: typer.Context) -> FeatureStore:
    return FeatureStore(ctx.obj)


def _retraining(store: FeatureStore) -> Retraining:
    return Retraining(store.retraining)


def _emit(data: Any, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    console.print_json(json.dumps(data, default=str))


def _run(
    ctx: typer.Context,
    model: str,
    *,
    run_id: str | None,
    until: str | None,
    trigger: str,
    force: bool,
    as_json: bool,
) -> None:
    with _store(ctx) as store:
        report = _retraining(store).run(
            model, run_id=run_id, until=until, trigger=trigger, force=force
        )
    _emit(
        {
            "run_id": report.run_id,
            "state": report.state.value,
            "steps": {
                k: {x: y for x, y in v.items() if x != "service_pins"}
                for k, v in report.outputs.items()
            },
        },
        as_json,
    )


@app.command("run")
def run_command(
    ctx: typer.Context,
    model: ModelArg,
    run_id: RunIdOption = None,
    trigger: Annotated[str, typer.Option(help="Why this run starts (recorded).")] = "manual",
    force: Annotated[bool, typer.Option(help="Skip the rate limit and loop breaker.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run (or resume, with --run-id) the whole pipeline for MODEL."""
    _run(ctx, model, run_id=run_id, until=None, trigger=trigger, force=force, as_json=as_json)


@app.command("step")
def step_command(
    ctx: typer.Context,
    step: Annotated[
        str,
        typer.Argument(
            help="build_training_set, train, evaluate, gate, register, shadow or promote."
        ),
    ],
    model: ModelArg,
    run_id: Annotated[str, typer.Option("--run-id", help="The run the step belongs to.")],
    trigger: Annotated[str, typer.Option(help="Why the run started.")] = "orchestrator",
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline of --run-id up to STEP (finished steps are not run again)."""
    _run(ctx, model, run_id=run_id, until=step, trigger=trigger, force=False, as_json=as_json)


@app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    model: ModelArg,
    evidence: Annotated[
        Path | None,
        typer.Option(
            help='JSON file: {"drift": {"features": [...]}, "performance": {...}}. '
            "Default: the monitor's evidence (request log, labels), as the scheduler reads it."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate MODEL's triggers against monitor evidence; record the decision."""
    from parity.retrain.retraining import evidence_from_dict

    given = None if evidence is None else evidence_from_dict(json.loads(evidence.read_text()))
    with _store(ctx) as store:
        decision, found = _retraining(store).evaluate(model, evidence=given)
    _emit(
        {
            "action": decision.action.value,
            "reasons": list(decision.reasons),
            "notes": list(found.notes),
        },
        as_json,
    )


@app.command("promote")
def promote_command(
    ctx: typer.Context,
    model: ModelArg,
    version: Annotated[int, typer.Option(help="The model version to make champion.")],
) -> None:
    """Make VERSION the champion (atomic; the old champion becomes 'previous')."""
    with _store(ctx) as store:
        champion = _retraining(store).promote(model, version=version)
    console.print(f"champion: {champion.ref}")


@app.command("rollback")
def rollback_command(ctx: typer.Context, model: ModelArg) -> None:
    """Swap the champion back to the previous version (atomic)."""
    with _store(ctx) as store:
        champion = _retraining(store).rollback(model)
    console.print(f"champion: {champion.ref}")


@app.command("status")
def status_command(ctx: typer.Context, model: ModelArg, as_json: JsonOption = False) -> None:
    """Versions with lineage and aliases, runs and alerts of MODEL."""
    with _store(ctx) as store:
        found = _retraining(store).status(model)
    aliases, versions, runs = found.aliases, found.versions, found.runs
    alerts, pending = found.alerts, found.pending
    if as_json:
        print_json(
            {
                "aliases": {a: None if v is None else v.version for a, v in aliases.items()},
                "versions": [{"version": v.version, **v.lineage.to_dict()} for v in versions],
                "runs": [
                    {"run_id": r.run_id, "state": r.state.value, "trigger": r.trigger} for r in runs
                ],
                "alerts": [{"severity": a["severity"], "message": a["message"]} for a in alerts],
                "pending_transitions": [
                    {"kind": t.kind, "target": dict(t.target)} for t in pending
                ],
            }
        )
        return
    table = Table(title=f"{model}: versions")
    for column in ("version", "role", "feature service", "dataset", "metrics", "code"):
        table.add_column(column)
    for v in versions:
        roles = ", ".join(a for a, x in aliases.items() if x is not None and x.version == v.version)
        metrics = ", ".join(f"{k} {val:.3f}" for k, val in v.lineage.metrics.items())
        table.add_row(
            str(v.version),
            roles,
            v.lineage.feature_service,
            v.lineage.training_dataset,
            metrics,
            v.lineage.code_fingerprint,
        )
    print_table(table)
    for r in runs:
        console.print(f"run {r.run_id}: {r.state.value} ({r.trigger})")
    for a in alerts[-5:]:
        console.print(f"[yellow]{a['severity']}[/]: {a['message']}")
    for t in pending:
        again = f"{t.kind} {model}"
        if t.kind == "promote":
            again += f" --version {t.target.get('champion')}"
        console.print(
            f"[red]half-done {t.kind}[/] to {dict(t.target)}: 'parity retrain {again}' completes it"
        )


@app.command("reset")
def reset_command(
    ctx: typer.Context,
    model: ModelArg,
    message: Annotated[str, typer.Option("-m", "--message", help="What was checked.")] = "",
) -> None:
    """Re-arm the loop breaker after a person looked at MODEL."""
    with _store(ctx) as store:
        _retraining(store).reset(model, message=message)
    console.print(f"loop breaker of {model} re-armed")


@app.command("unlock")
def unlock_command(ctx: typer.Context, model: ModelArg) -> None:
    """Release MODEL's run lock (only when the run holding it is dead)."""
    with _store(ctx) as store:
        released = _retraining(store).unlock(model)
    console.print("released" if released else "no lock held")


@app.command("predict")
def predict_command(
    ctx: typer.Context,
    model: ModelArg,
    rows: Annotated[
        str, typer.Argument(help="JSON list of entity rows, e.g. '[{\"user_id\": 1}]'")
    ],
) -> None:
    """Score entity rows with MODEL's champion (features from its pinned service)."""
    with _store(ctx) as store:
        result = _retraining(store).predict(model, json.loads(rows))
    print_json(result.to_dict())


def scheduler(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    iterations: Annotated[int | None, typer.Option(help="Passes before exiting.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 60.0,
    monitor_evidence: Annotated[
        bool,
        typer.Option(
            "--monitor-evidence/--no-monitor-evidence",
            help="Decide on the monitor's drift, performance and drift-error links "
            "(default), or on schedules only.",
        ),
    ] = True,
    syncs: Annotated[
        bool,
        typer.Option(
            "--syncs/--no-syncs",
            help="Run each view version's due syncs (sync.schedule in parity.yaml, or the "
            "view's freshness.refresh_every) at the start of every pass.",
        ),
    ] = True,
    retrain: Annotated[
        bool, typer.Option("--retrain/--no-retrain", help="Evaluate retraining triggers.")
    ] = True,
) -> None:
    """Run the scheduled work: due syncs per view version, then retraining triggers."""
    passes = 1 if once else iterations
    with _store(ctx) as store:
        sync_scheduler = store.sync_scheduler() if syncs else None

        def sync_pass() -> None:
            if sync_scheduler is None:
                return
            for run in sync_scheduler.tick():
                if run.outcome != "not due":
                    missed = f", {run.missed_refreshes} missed" if run.missed_refreshes else ""
                    due = run.next_due_at.isoformat() if run.next_due_at else "-"
                    console.print(f"sync {run.ref}: {run.outcome} (next {due}{missed})")

        if retrain:
            _retraining(store).schedule(
                iterations=passes,
                interval_seconds=interval,
                monitor_evidence=monitor_evidence,
                on_tick=lambda t: console.print(f"{t.at.isoformat()} {t.outcomes}"),
                before_tick=sync_pass,
            )
            return
        count = 0
        while passes is None or count < passes:
            if count:
                time.sleep(interval)
            sync_pass()
            count += 1


def register(root: typer.Typer) -> None:
    """Add this group's commands to the app."""
    root.add_typer(app, name="retrain")
    root.command("scheduler")(scheduler)
