"""Retraining triggers: the schedule, the two-tier drift gate, and performance.

Monitor results come in as plain evidence dataclasses (:class:`DriftEvidence`,
:class:`PerformanceEvidence`), so the monitor plugs in by building them. The decision:

- schedule: the cron expression fired since the last run -> retrain;
- drift, two tiers: feature drift alone -> warn; drift whose correlation with the error
  reaches the policy threshold, or a critical PSI on a key feature -> retrain;
- performance: metric down by more than ``performance_drop`` against the validation value
  -> retrain; by more than ``performance_warn`` -> warn.

Example:
    >>> from parity.retrain.model import RetrainPolicy
    >>> d = decide(RetrainPolicy(), now=datetime(2026, 1, 2, tzinfo=UTC), last_run=None,
    ...            performance=PerformanceEvidence("roc_auc", value=0.80, validation_value=0.90))
    >>> d.action.value, d.reasons[0][:27]
    ('retrain', 'performance: roc_auc 0.8000')
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from parity.retrain.model import RetrainPolicy


class Action(enum.StrEnum):
    """What a trigger evaluation decided."""

    # Nothing to do.
    NONE = "none"
    # Worth a look; not worth a retrain (drift without harm, a small metric dip).
    WARN = "warn"
    # Start a retraining run.
    RETRAIN = "retrain"


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature: PSI against the training reference, and its link to error.

    ``error_correlation`` is the monitor's drift-error link (e.g. Spearman between the
    feature's shift and the model's error), None when labels are not in yet.

    Example:
        >>> FeatureDrift("amount", psi=0.3).psi
        0.3
    """

    feature: str
    psi: float
    error_correlation: float | None = None
    drifted: bool = True
    # The monitor's verdict on the drift-error link (significance tested), when it has one;
    # it overrides the correlation threshold.
    harmful: bool | None = None


@dataclass(frozen=True)
class DriftEvidence:
    """The monitor's drift results for the model's features over a window.

    Example:
        >>> DriftEvidence((FeatureDrift("amount", psi=0.3),), window="2026-01-01/2026-01-08")
        ... # doctest: +ELLIPSIS
        DriftEvidence(features=...)
    """

    features: tuple[FeatureDrift, ...]
    window: str = ""


@dataclass(frozen=True)
class PerformanceEvidence:
    """The model's metric on labelled live traffic, against its validation value.

    Example:
        >>> PerformanceEvidence("roc_auc", value=0.85, validation_value=0.9).relative_drop
        0.0555...
    """

    metric: str
    value: float
    validation_value: float
    labelled_rows: int = 0
    window: str = ""

    @property
    def relative_drop(self) -> float:
        """How far the metric fell, as a share of the validation value (0 if it rose)."""
        if self.validation_value <= 0:
            return 0.0
        return max(0.0, (self.validation_value - self.value) / self.validation_value)


@dataclass(frozen=True)
class Decision:
    """A trigger evaluation: the action, why, and the evidence it looked at.

    Example:
        >>> Decision(Action.NONE, ("nothing fired",)).action.value
        'none'
    """

    action: Action
    reasons: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)


def schedule_due(schedule: str | None, *, now: datetime, last_run: datetime | None) -> bool:
    """True if the cron ``schedule`` fired after ``last_run`` and at or before ``now``.

    Without a previous run a schedule is due at once.

    Example:
        >>> schedule_due("0 3 * * *", now=datetime(2026, 1, 2, 4, tzinfo=UTC),
        ...              last_run=datetime(2026, 1, 1, 5, tzinfo=UTC))
        True
    """
    if schedule is None:
        return False
    if last_run is None:
        return True
    from croniter import croniter

    fire: datetime = croniter(schedule, last_run.astimezone(UTC)).get_next(datetime)
    return fire <= now


def _drift(policy: RetrainPolicy, drift: DriftEvidence) -> tuple[Action, list[str]]:
    drifted = [f for f in drift.features if f.drifted]
    harmful = [
        f
        for f in drifted
        if f.harmful
        or (
            f.harmful is None
            and f.error_correlation is not None
            and abs(f.error_correlation) >= policy.drift_error_correlation
        )
    ]
    critical = [
        f
        for f in drift.features
        if f.feature in policy.key_features and f.psi >= policy.critical_psi
    ]
    if harmful or critical:
        reasons = [
            f"drift: {f.feature} (psi {f.psi:.3f}) is linked to the error"
            + ("" if f.error_correlation is None else f" ({f.error_correlation:+.2f})")
            for f in harmful
        ] + [f"drift: critical psi {f.psi:.3f} on key feature {f.feature}" for f in critical]
        return Action.RETRAIN, reasons
    if drifted:
        names = ", ".join(f.feature for f in drifted)
        return Action.WARN, [f"drift without error link: {names} (warn only)"]
    return Action.NONE, []


def _performance(policy: RetrainPolicy, perf: PerformanceEvidence) -> tuple[Action, list[str]]:
    drop = perf.relative_drop
    text = (
        f"performance: {perf.metric} {perf.value:.4f} vs validation "
        f"{perf.validation_value:.4f} (-{drop:.1%})"
    )
    if drop > policy.performance_drop:
        return Action.RETRAIN, [f"{text} > {policy.performance_drop:.0%} drop"]
    if drop > policy.performance_warn:
        return Action.WARN, [f"{text} > {policy.performance_warn:.0%} alert"]
    return Action.NONE, []


def decide(
    policy: RetrainPolicy,
    *,
    now: datetime,
    last_run: datetime | None,
    drift: DriftEvidence | None = None,
    performance: PerformanceEvidence | None = None,
) -> Decision:
    """Evaluate every trigger; the strongest action wins, every reason is kept.

    Example:
        >>> decide(RetrainPolicy(), now=datetime(2026, 1, 1, tzinfo=UTC), last_run=None).action
        <Action.NONE: 'none'>
    """
    found: list[tuple[Action, list[str]]] = []
    if schedule_due(policy.schedule, now=now, last_run=last_run):
        found.append((Action.RETRAIN, [f"schedule: {policy.schedule} is due"]))
    if drift is not None:
        found.append(_drift(policy, drift))
    if performance is not None:
        found.append(_performance(policy, performance))
    rank = {Action.NONE: 0, Action.WARN: 1, Action.RETRAIN: 2}
    action = max((a for a, _ in found), key=rank.__getitem__, default=Action.NONE)
    reasons: Sequence[str] = [r for _, rs in found for r in rs] or ["no trigger fired"]
    evidence: dict[str, Any] = {
        "schedule": policy.schedule,
        "last_run": None if last_run is None else last_run.isoformat(),
        "drift": None if drift is None else asdict(drift),
        "performance": None if performance is None else asdict(performance),
    }
    return Decision(action, tuple(reasons), evidence)
