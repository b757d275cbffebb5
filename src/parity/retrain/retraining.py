"""What a person or an orchestrator asks of the retraining loop, for one repository.

:class:`Retraining` is the public entry point behind ``parity retrain run|step|evaluate|
promote|rollback|status|reset|unlock|predict`` and ``parity scheduler``: each command
parses its arguments, calls one method, and renders. A Python user calls the same
methods. It takes the :class:`~parity.retrain.features.FeatureAccess` the facade builds
(``store.retraining``), never the facade; each call opens the loop's ledger and model
registry and closes them before it returns.

Example:
    >>> from parity.retrain import Retraining
    >>> with FeatureStore("my_repo") as store:  # doctest: +SKIP
    ...     report = Retraining(store.retraining).run("fraud_model")
    ...     report.state.value
    'promoted'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parity.retrain.features import FeatureAccess
    from parity.retrain.ledger.runs import RunRecord
    from parity.retrain.ledger.transitions import Transition
    from parity.retrain.monitor_evidence import Evidence
    from parity.retrain.registries.base import ModelVersion
    from parity.retrain.runner import RunReport
    from parity.retrain.scheduler import Tick
    from parity.retrain.serving import Prediction
    from parity.retrain.triggers import Decision
    from parity.retrain.wiring import Loop

__all__ = ["ModelStatus", "Retraining", "evidence_from_dict"]

# The aliases a model registry keeps, in the order status shows them.
_ALIASES = ("champion", "challenger", "previous")


def evidence_from_dict(data: Mapping[str, Any], /) -> Evidence:
    """Evidence given by hand: ``{"drift": {"features": [...], "window": ...},
    "performance": {...}}`` (either part may be absent).

    Example:
        >>> evidence_from_dict({"performance": {"metric": "f1", "value": 0.7,
        ...                                     "validation_value": 0.8}}).drift is None
        True
    """
    from parity.retrain.monitor_evidence import Evidence
    from parity.retrain.triggers import DriftEvidence, FeatureDrift, PerformanceEvidence

    drift, performance = data.get("drift"), data.get("performance")
    return Evidence(
        None
        if drift is None
        else DriftEvidence(
            tuple(FeatureDrift(**f) for f in drift["features"]), drift.get("window", "")
        ),
        None if performance is None else PerformanceEvidence(**performance),
    )


@dataclass(frozen=True)
class ModelStatus:
    """A model's versions with their aliases, its runs, alerts and half-done transitions.

    Example:
        >>> ModelStatus("m", {}, (), (), (), ()).versions
        ()
    """

    model: str
    aliases: Mapping[str, ModelVersion | None]
    versions: tuple[ModelVersion, ...]
    runs: tuple[RunRecord, ...]
    alerts: tuple[Mapping[str, Any], ...]
    pending: tuple[Transition, ...]


@dataclass(frozen=True)
class Retraining:
    """The retraining loop's operations on one repository's models.

    Example:
        >>> Retraining(store.retraining).status("fraud_model").aliases  # doctest: +SKIP
        {'champion': ModelVersion(...), 'challenger': None, 'previous': None}
    """

    features: FeatureAccess

    @contextmanager
    def _loop(self) -> Iterator[Loop]:
        from parity.retrain.wiring import open_loop

        loop = open_loop(self.features)
        try:
            yield loop
        finally:
            loop.close()

    def run(
        self,
        model: str,
        /,
        *,
        run_id: str | None = None,
        until: str | None = None,
        trigger: str = "manual",
        force: bool = False,
    ) -> RunReport:
        """Run (or resume, with ``run_id``) the pipeline for ``model``; ``until`` stops after
        that step; ``force`` skips the rate limit and the loop breaker.

        Example:
            >>> Retraining(store.retraining).run("fraud_model").state.value  # doctest: +SKIP
            'promoted'
        """
        from parity.retrain.context import find_model
        from parity.retrain.runner import run_retrain

        definition = find_model(self.features.repo_root, model)
        with self._loop() as loop:
            return run_retrain(
                loop, definition, run_id=run_id, until=until, trigger=trigger, force=force
            )

    def evaluate(
        self, model: str, /, *, evidence: Evidence | None = None
    ) -> tuple[Decision, Evidence]:
        """Evaluate ``model``'s triggers and record the decision, against ``evidence`` or,
        by default, the monitor's (request log, labels) as the scheduler reads it.

        Example:
            >>> decision, _ = Retraining(store.retraining).evaluate("fraud_model")  # doctest: +SKIP
            >>> decision.action.value  # doctest: +SKIP
            'none'
        """
        from parity.retrain.context import find_model
        from parity.retrain.monitor_evidence import MonitorEvidence
        from parity.retrain.runner import evaluate_triggers

        definition = find_model(self.features.repo_root, model)
        with self._loop() as loop:
            found = evidence or MonitorEvidence(loop.config.evidence)(loop, definition)
            decision = evaluate_triggers(
                loop,
                definition,
                drift=found.drift,
                performance=found.performance,
                notes=found.notes,
                details=found.details,
            )
        return decision, found

    def promote(self, model: str, /, *, version: int) -> ModelVersion:
        """Make ``version`` the champion (atomic; the old champion becomes ``previous``).

        Example:
            >>> Retraining(store.retraining).promote("fraud_model", version=3).ref  # doctest: +SKIP
            'fraud_model@3'
        """
        with self._loop() as loop:
            return loop.registry.promote(model, version)

    def rollback(self, model: str, /) -> ModelVersion:
        """Swap the champion back to the previous version (atomic).

        Example:
            >>> Retraining(store.retraining).rollback("fraud_model").ref  # doctest: +SKIP
            'fraud_model@2'
        """
        with self._loop() as loop:
            return loop.registry.rollback(model)

    def status(self, model: str, /) -> ModelStatus:
        """Versions with lineage and aliases, runs, alerts and half-done transitions.

        Example:
            >>> Retraining(store.retraining).status("fraud_model").runs  # doctest: +SKIP
            ()
        """
        with self._loop() as loop:
            return ModelStatus(
                model,
                {a: loop.registry.alias(model, a) for a in _ALIASES},
                tuple(loop.registry.versions(model)),
                tuple(loop.ledger.runs(model)),
                tuple(loop.ledger.alerts(model)),
                tuple(loop.ledger.transitions(model, pending=True)),
            )

    def reset(self, model: str, /, *, message: str = "") -> None:
        """Re-arm the loop breaker after a person looked at ``model``.

        Example:
            >>> retraining = Retraining(store.retraining)  # doctest: +SKIP
            >>> retraining.reset("fraud_model", message="checked")  # doctest: +SKIP
        """
        from parity.retrain.runner import RESET

        with self._loop() as loop:
            loop.ledger.record_decision(
                model, action=RESET, reasons=[message or "reset"], evidence={}, now=loop.clock()
            )

    def unlock(self, model: str, /) -> bool:
        """Release ``model``'s run lock (only when the run holding it is dead); False when
        none was held.

        Example:
            >>> Retraining(store.retraining).unlock("fraud_model")  # doctest: +SKIP
            False
        """
        with self._loop() as loop:
            return loop.ledger.release_lock(model)

    def predict(self, model: str, rows: Sequence[Mapping[str, Any]], /) -> Prediction:
        """Score entity rows with ``model``'s champion (features from its pinned service).

        Example:
            >>> retraining = Retraining(store.retraining)  # doctest: +SKIP
            >>> retraining.predict("fraud_model", [{"user_id": 1}]).scores  # doctest: +SKIP
        """
        from parity.retrain.serving import predict

        return predict(self.features, model, rows)

    def schedule(
        self,
        *,
        iterations: int | None = None,
        interval_seconds: float = 60.0,
        monitor_evidence: bool = True,
        on_tick: Callable[[Tick], None] | None = None,
        before_tick: Callable[[], object] | None = None,
    ) -> list[Tick]:
        """Run the loop: every ``interval_seconds``, evaluate every model's triggers and
        retrain when due (``iterations`` passes; None: forever). Without
        ``monitor_evidence`` it decides on schedules only. ``before_tick`` runs at the start
        of every pass (the sync scheduler's tick, in ``parity scheduler``).

        Example:
            >>> Retraining(store.retraining).schedule(iterations=1)  # doctest: +SKIP
        """
        from parity.retrain.scheduler import no_evidence, run_scheduler

        return run_scheduler(
            self.features,
            iterations=iterations,
            interval_seconds=interval_seconds,
            evidence=None if monitor_evidence else no_evidence,
            on_tick=on_tick,
            before_tick=before_tick,
        )
