"""The embedded scheduler: evaluate every model's triggers, retrain when they say so.

Each tick loads the repository's :class:`Model` definitions, asks the evidence provider
for the monitor's latest drift/performance evidence (by default
:class:`~parity.retrain.monitor_evidence.MonitorEvidence`, configured by
``retrain.evidence`` in ``parity.yaml``), records a decision per model with that evidence
(and why any of it is missing) and runs the pipeline when it says retrain. Too little
data is no evidence: it never triggers. Guards and failures are recorded and alerted by
the runner; the scheduler carries on. A pass that cannot reach the registry database
(locked, down) is logged, and alerted in the ledger by the first pass that can.

Example:
    >>> ticks = run_scheduler(store.retraining, iterations=1)  # doctest: +SKIP
    >>> ticks[0].outcomes  # doctest: +SKIP
    {'fraud_model': 'warn'}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from parity.errors import ParityError
from parity.retrain.alerts import Severity
from parity.retrain.context import Clock, load_models, system_clock
from parity.retrain.model import Model
from parity.retrain.monitor_evidence import Evidence, MonitorEvidence, no_evidence
from parity.retrain.runner import evaluate_triggers, run_retrain
from parity.retrain.triggers import Action
from parity.retrain.wiring import Loop, open_loop

if TYPE_CHECKING:
    from parity.retrain.features import FeatureAccess

__all__ = ["EvidenceProvider", "Tick", "no_evidence", "run_scheduler", "tick"]

logger = logging.getLogger("parity.retrain")
SCHEDULER = "scheduler"
"""The name alerts about the scheduler itself are recorded under."""

EvidenceProvider = Callable[[Loop, Model], Evidence]
"""Returns the latest drift/performance evidence for a model (None: the monitor's)."""


@dataclass(frozen=True)
class Tick:
    """What one scheduler pass did per model: none / warn / a run state / an error.

    Example:
        >>> from datetime import datetime, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> Tick(at=at, outcomes={"fraud_model": "none"}).outcomes["fraud_model"]
        'none'
    """

    at: datetime
    outcomes: dict[str, str]


def tick(
    features: FeatureAccess,
    *,
    clock: Clock = system_clock,
    evidence: EvidenceProvider | None = None,
    backlog: list[str] | None = None,
) -> Tick:
    """One pass over every model of the repository.

    Example:
        >>> tick(store.retraining, evidence=no_evidence).outcomes  # doctest: +SKIP
        {'fraud_model': 'none'}

    ``evidence`` None: the monitor's (:class:`MonitorEvidence`), unless
    ``retrain.evidence.enabled`` is false (then schedules only). ``backlog``: failures of
    earlier passes not recorded yet; they are alerted now and the list is emptied.
    """
    loop = open_loop(features, clock=clock)
    while backlog:
        loop.alerts.alert(SCHEDULER, Severity.CRITICAL, backlog.pop(0), {})
    if evidence is None:
        settings = loop.config.evidence
        evidence = MonitorEvidence(settings) if settings.enabled else no_evidence
    outcomes: dict[str, str] = {}
    try:
        for name, model in sorted(load_models(features.repo_root).items()):
            try:
                found = evidence(loop, model)
            except ParityError as exc:  # e.g. an unreadable request log: decide without it
                found = Evidence(notes=(f"evidence unavailable: {exc}",))
                loop.alerts.alert(name, Severity.WARN, found.notes[0], {})
            decision = evaluate_triggers(
                loop,
                model,
                drift=found.drift,
                performance=found.performance,
                notes=found.notes,
                details=found.details,
            )
            if decision.action is not Action.RETRAIN:
                outcomes[name] = decision.action.value
                continue
            trigger = decision.reasons[0].split(":", 1)[0]
            try:
                outcomes[name] = run_retrain(loop, model, trigger=trigger).state.value
            except ParityError as exc:  # recorded and alerted by the runner
                outcomes[name] = f"error: {type(exc).__name__}: {exc}"
    finally:
        loop.close()
    return Tick(clock(), outcomes)


def run_scheduler(
    features: FeatureAccess,
    *,
    iterations: int | None = None,
    interval_seconds: float = 60.0,
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    evidence: EvidenceProvider | None = None,
    on_tick: Callable[[Tick], None] | None = None,
    before_tick: Callable[[], object] | None = None,
) -> list[Tick]:
    """Tick every ``interval_seconds``; ``iterations`` bounds the loop (None: forever).
    ``before_tick``: other scheduled work run at the start of every pass (``parity
    scheduler`` passes the sync scheduler's tick).

    Example:
        >>> run_scheduler(store.retraining, iterations=1, evidence=no_evidence)  # doctest: +SKIP
    """
    ticks: list[Tick] = []
    backlog: list[str] = []
    count = 0
    while iterations is None or count < iterations:
        if count:
            sleep(interval_seconds)
        if before_tick is not None:
            before_tick()
        try:
            result = tick(features, clock=clock, evidence=evidence, backlog=backlog)
        except sa.exc.OperationalError as exc:  # the registry database is locked or down
            message = (
                f"Scheduler pass at {clock().isoformat()} failed: the registry database is "
                f"unavailable ({exc.orig}). No model was evaluated; retrying in "
                f"{interval_seconds:g}s."
            )
            logger.error(message)
            backlog.append(message)
            result = Tick(clock(), {SCHEDULER: "error: registry database unavailable"})
        if on_tick is not None:
            on_tick(result)
        if iterations is not None:
            ticks.append(result)
        count += 1
    return ticks
