"""Runs the pipeline under its guards, and turns monitor evidence into decisions.

Guards, checked before a new run starts: the rate limit (one run per model per
``policy.min_interval``), the loop breaker (after ``policy.max_unstable_retrains``
triggered runs without a healthy evaluation in between, stop and alert a person), and the
per-model lock in the registry database (no concurrent runs). Every failure is recorded
and alerted; the champion alias only moves in the last step, so production keeps serving
the champion whatever happens.

Example:
    >>> report = run_retrain(loop, model, trigger="performance")  # doctest: +SKIP
    >>> report.state  # doctest: +SKIP
    <RunState.PROMOTED: 'promoted'>
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from parity.errors import ParityError
from parity.retrain.alerts import Severity
from parity.retrain.context import RunContext
from parity.retrain.errors import RetrainBlocked, RetrainError, StepFailed
from parity.retrain.ledger import RunState, StepState
from parity.retrain.model import Model
from parity.retrain.steps import RETRAIN_STEPS, STOP
from parity.retrain.triggers import Action, Decision, DriftEvidence, PerformanceEvidence, decide
from parity.retrain.wiring import Loop

STEP_NAMES = tuple(step.__name__ for step in RETRAIN_STEPS)
RESET = "reset"
"""Decision action a person records to re-arm the loop breaker."""
EVIDENCE_TRIGGERS = ("drift", "performance")
# The trigger of a run a person started.
MANUAL = "manual"
"""Run triggers that count towards the loop breaker (the monitor's evidence fired)."""


@dataclass(frozen=True)
class RunReport:
    """How a run ended, with each step's recorded output.

    Example:
        >>> RunReport("r1", "m", RunState.REJECTED, {}).state.value
        'rejected'
    """

    run_id: str
    model: str
    state: RunState
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_rate_limit(loop: Loop, model: Model, *, run_id: str, trigger: str = MANUAL) -> None:
    """Refuse a new run if a run of ``model`` that counts started within ``min_interval``.

    An automatic run (drift, performance, schedule) counts only automatic runs: a person's
    manual run does not use up the loop's budget. A manual run counts every run (two people
    starting the same model at once run it once); ``--force`` skips the limit.
    """
    now = loop.clock()
    window = model.policy.min_interval
    automatic = trigger != MANUAL
    recent = [
        r
        for r in loop.ledger.runs(model.name)
        if r.run_id != run_id
        and not (automatic and r.trigger == MANUAL)
        and r.started_at is not None
        and r.started_at > now - window
    ]
    if not recent:
        return
    last = recent[-1]
    assert last.started_at is not None
    after = (last.started_at + window).isoformat()
    what = (
        f"The next automatic run is allowed after {after}; to retrain now, run 'parity "
        f"retrain run {model.name}' (manual runs do not count toward this limit)."
        if automatic
        else f"Next run allowed after {after}, or run with --force."
    )
    raise RetrainBlocked(
        f"Model {model.name!r}: run {last.run_id!r} ({last.trigger}) started at "
        f"{last.started_at.isoformat()}, within the rate limit of {window} "
        f"(policy.min_interval). {what}"
    )


def healthy(decision: Mapping[str, Any]) -> bool:
    """A recorded decision that re-arms the loop breaker: a reset, or "nothing to do" said
    on evidence (no evidence, e.g. too little data, proves nothing).

    Example:
        >>> healthy({"action": "none", "evidence": {"drift": None, "performance": None}})
        False
    """
    if decision["action"] == RESET:
        return True
    evidence = decision["evidence"] or {}
    return decision["action"] == Action.NONE.value and any(
        evidence.get(kind) is not None for kind in ("drift", "performance")
    )


def unstable_runs(loop: Loop, model: Model) -> int:
    """Runs the monitor triggered since the last healthy evaluation (or reset) of ``model``.

    Manual and scheduled runs do not count: they are not the loop chasing a metric.
    """
    decisions = loop.ledger.decisions(model.name)
    since = max((d["at"] for d in decisions if healthy(d)), default=None)
    return sum(
        1
        for r in loop.ledger.runs(model.name)
        if r.trigger in EVIDENCE_TRIGGERS
        and r.started_at is not None
        and (since is None or r.started_at > since)
    )


def check_loop_breaker(loop: Loop, model: Model) -> None:
    """Refuse a new run after too many retrains that did not bring the metric back."""
    count = unstable_runs(loop, model)
    if count >= model.policy.max_unstable_retrains:
        raise RetrainBlocked(
            f"Model {model.name!r}: loop breaker tripped after {count} retrains without a "
            "healthy evaluation in between. A person must look at the data and labels, then "
            f"'parity retrain reset {model.name}' to re-arm automatic retraining."
        )


def evaluate_triggers(
    loop: Loop,
    model: Model,
    *,
    drift: DriftEvidence | None = None,
    performance: PerformanceEvidence | None = None,
    notes: Sequence[str] = (),
    details: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide whether to retrain ``model`` from the evidence; record it; alert on a warning.

    ``notes`` (why some evidence is missing) and ``details`` (e.g. the drift-error links)
    are recorded with the decision's evidence.
    """
    runs = loop.ledger.runs(model.name)
    last = runs[-1].started_at if runs else None
    now = loop.clock()
    decision = decide(model.policy, now=now, last_run=last, drift=drift, performance=performance)
    if notes or details:
        extra = {"notes": list(notes), "monitor": dict(details or {})}
        decision = Decision(decision.action, decision.reasons, {**decision.evidence, **extra})
    loop.ledger.record_decision(
        model.name,
        action=decision.action.value,
        reasons=list(decision.reasons),
        evidence=decision.evidence,
        now=now,
    )
    if decision.action is Action.WARN:
        loop.alerts.alert(model.name, Severity.WARN, "; ".join(decision.reasons), decision.evidence)
    return decision


def _alert(loop: Loop, model: Model, severity: Severity, message: str, **evidence: Any) -> None:
    loop.alerts.alert(model.name, severity, message, evidence)


def run_retrain(
    loop: Loop,
    model: Model,
    *,
    run_id: str | None = None,
    trigger: str = "manual",
    force: bool = False,
    until: str | None = None,
) -> RunReport:
    """Run (or resume) the pipeline for ``model``; ``until`` stops after that step.

    Re-running a promoted or rejected ``run_id`` returns its report without doing anything
    again; re-running a failed one resumes it at the step that failed.
    """
    now = loop.clock()
    run_id = run_id or f"{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    if until is not None and until not in STEP_NAMES:
        raise RetrainError(f"Unknown step {until!r}. Steps, in order: {', '.join(STEP_NAMES)}.")
    existing = loop.ledger.run(run_id)
    if existing is not None and existing.state in (RunState.PROMOTED, RunState.REJECTED):
        return RunReport(run_id, model.name, existing.state, dict(existing.details))
    if existing is None and not force:
        try:
            check_rate_limit(loop, model, run_id=run_id, trigger=trigger)
            check_loop_breaker(loop, model)
        except RetrainBlocked as exc:
            breaker = "loop breaker" in str(exc)
            _alert(
                loop,
                model,
                Severity.CRITICAL if breaker else Severity.WARN,
                str(exc),
                run_id=run_id,
                trigger=trigger,
            )
            raise
    lock_ttl = timedelta(seconds=loop.config.lock_ttl_seconds)
    try:
        loop.ledger.acquire_lock(model.name, run_id=run_id, now=now, ttl=lock_ttl)
    except ParityError as exc:
        _alert(loop, model, Severity.WARN, str(exc), run_id=run_id)
        raise
    try:
        return _run_steps(loop, model, run_id=run_id, trigger=trigger, until=until)
    finally:
        loop.ledger.release_lock(model.name, run_id=run_id)


def _run_steps(
    loop: Loop, model: Model, *, run_id: str, trigger: str, until: str | None
) -> RunReport:
    ledger = loop.ledger
    ledger.start_run(model.name, run_id=run_id, trigger=trigger, now=loop.clock())
    ctx = RunContext(
        loop.features,
        model,
        loop.registry,
        ledger,
        loop.alerts,
        run_id,
        clock=loop.clock,
        trigger=trigger,
    )
    for step in RETRAIN_STEPS:
        name = step.__name__
        recorded = ledger.step_output(run_id, name)
        if recorded is None:
            ledger.record_step(run_id, name, StepState.STARTED, now=loop.clock())
            try:
                recorded = step(ctx)
            except Exception as exc:
                message = f"Model {model.name!r}, run {run_id!r}: step {name} failed: {exc!r}"
                ledger.record_step(
                    run_id, name, StepState.FAILED, now=loop.clock(), output={"error": repr(exc)}
                )
                ledger.finish_run(
                    run_id,
                    RunState.FAILED,
                    now=loop.clock(),
                    details={**ctx.outputs, "error": message},
                )
                _alert(loop, model, Severity.CRITICAL, message, run_id=run_id, step=name)
                raise StepFailed(
                    f"{message}. The champion keeps serving; fix the cause and resume with "
                    f"'parity retrain run {model.name} --run-id {run_id}'."
                ) from exc
            ledger.record_step(run_id, name, StepState.SUCCEEDED, now=loop.clock(), output=recorded)
        ctx.outputs[name] = recorded
        if STOP in recorded:
            ledger.finish_run(run_id, RunState.REJECTED, now=loop.clock(), details=ctx.outputs)
            _alert(
                loop,
                model,
                Severity.WARN,
                f"Model {model.name!r}, run {run_id!r}: {recorded[STOP]}",
                run_id=run_id,
                step=name,
            )
            return RunReport(run_id, model.name, RunState.REJECTED, ctx.outputs)
        if name == until and name != STEP_NAMES[-1]:
            return RunReport(run_id, model.name, RunState.RUNNING, ctx.outputs)
    ledger.finish_run(run_id, RunState.PROMOTED, now=loop.clock(), details=ctx.outputs)
    return RunReport(run_id, model.name, RunState.PROMOTED, ctx.outputs)
