"""Retraining commands: ``parity retrain ...`` (one command per pipeline step) and
``parity scheduler``.

Airflow or Prefect call the same commands, one task per step, with one ``--run-id``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from parity.cli.render import console, print_json
from parity.store import FeatureStore

app = typer.Typer(
    help="Closed-loop retraining: steps, promotion, rollback, guards.", no_args_is_help=True
)

ModelArg = Annotated[str, typer.Argument(help="Model name (a parity.retrain.Model in the repo).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RunIdOption = Annotated[str | None, typer.Option("--run-id", help="Run id (resume/idempotent).")]


def _store(ctx: typer.Context) -> FeatureStore:
    return FeatureStore(ctx.obj)


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
    from parity.retrain.context import find_model
    from parity.retrain.runner import run_retrain
    from parity.retrain.wiring import open_loop

    with _store(ctx) as store:
        loop = open_loop(store.retraining)
        try:
            report = run_retrain(
                loop,
                find_model(store.repo_path, model),
                run_id=run_id,
                until=until,
                trigger=trigger,
                force=force,
            )
        finally:
            loop.close()
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
    from parity.retrain.context import find_model
    from parity.retrain.monitor_evidence import Evidence, MonitorEvidence
    from parity.retrain.runner import evaluate_triggers
    from parity.retrain.triggers import DriftEvidence, FeatureDrift, PerformanceEvidence
    from parity.retrain.wiring import open_loop

    with _store(ctx) as store:
        loop = open_loop(store.retraining)
        try:
            definition = find_model(store.repo_path, model)
            if evidence is None:
                found = MonitorEvidence(loop.config.evidence)(loop, definition)
            else:
                data = json.loads(evidence.read_text())
                drift, perf = data.get("drift"), data.get("performance")
                found = Evidence(
                    None
                    if drift is None
                    else DriftEvidence(
                        tuple(FeatureDrift(**f) for f in drift["features"]),
                        drift.get("window", ""),
                    ),
                    None if perf is None else PerformanceEvidence(**perf),
                )
            decision = evaluate_triggers(
                loop,
                definition,
                drift=found.drift,
                performance=found.performance,
                notes=found.notes,
                details=found.details,
            )
        finally:
            loop.close()
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
    from parity.retrain.wiring import open_model_registry

    with _store(ctx) as store:
        registry = open_model_registry(store.retraining)
        try:
            console.print(f"champion: {registry.promote(model, version).ref}")
        finally:
            registry.close()


@app.command("rollback")
def rollback_command(ctx: typer.Context, model: ModelArg) -> None:
    """Swap the champion back to the previous version (atomic)."""
    from parity.retrain.wiring import open_model_registry

    with _store(ctx) as store:
        registry = open_model_registry(store.retraining)
        try:
            console.print(f"champion: {registry.rollback(model).ref}")
        finally:
            registry.close()


@app.command("status")
def status_command(ctx: typer.Context, model: ModelArg, as_json: JsonOption = False) -> None:
    """Versions with lineage and aliases, runs and alerts of MODEL."""
    from parity.retrain.wiring import open_loop

    with _store(ctx) as store:
        loop = open_loop(store.retraining)
        try:
            aliases = {
                a: loop.registry.alias(model, a) for a in ("champion", "challenger", "previous")
            }
            versions = loop.registry.versions(model)
            runs = loop.ledger.runs(model)
            alerts = loop.ledger.alerts(model)
            pending = loop.ledger.transitions(model, pending=True)
        finally:
            loop.close()
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
    console.print(table)
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
    from parity.retrain.runner import RESET
    from parity.retrain.wiring import open_loop

    with _store(ctx) as store:
        loop = open_loop(store.retraining)
        try:
            loop.ledger.record_decision(
                model, action=RESET, reasons=[message or "reset"], evidence={}, now=loop.clock()
            )
        finally:
            loop.close()
    console.print(f"loop breaker of {model} re-armed")


@app.command("unlock")
def unlock_command(ctx: typer.Context, model: ModelArg) -> None:
    """Release MODEL's run lock (only when the run holding it is dead)."""
    from parity.retrain.wiring import open_loop

    with _store(ctx) as store:
        loop = open_loop(store.retraining)
        try:
            released = loop.ledger.release_lock(model)
        finally:
            loop.close()
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
    from parity.retrain.serving import predict

    with _store(ctx) as store:
        result = predict(store.retraining, model, json.loads(rows))
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
) -> None:
    """Run the retraining loop: evaluate every model's triggers, retrain when due."""
    from parity.retrain.scheduler import no_evidence, run_scheduler

    with _store(ctx) as store:
        run_scheduler(
            store.retraining,
            iterations=1 if once else iterations,
            interval_seconds=interval,
            evidence=None if monitor_evidence else no_evidence,
            on_tick=lambda t: console.print(f"{t.at.isoformat()} {t.outcomes}"),
        )


def register(root: typer.Typer) -> None:
    """Add this group's commands to the app."""
    root.add_typer(app, name="retrain")
    root.command("scheduler")(scheduler)
