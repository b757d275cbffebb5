"""Monitoring settings: the ``monitoring:`` section of ``parity.yaml``.

The same settings may instead live in a ``monitoring.yaml`` beside ``parity.yaml`` (the
older place; both at once is an error); :mod:`parity.config` reads both. This module is a
leaf: it imports nothing of parity, so the configuration and every
monitor module may import it. Unknown keys are errors; every key has a default,
so a repository that says nothing is monitored with the defaults below. Environment
variables override like every other section:
``PARITY__MONITORING__CONSISTENCY__ON_INCONSISTENT=block``.

```yaml
drift: {psi_warn: 0.1, psi_critical: 0.2, ks_alpha: 0.05, chi2_alpha: 0.01, min_rows: 200}
consistency:
  max_mismatch_rate: 0.0          # per view: views: {user_stats: {max_mismatch_rate: 0.01}}
  on_inconsistent: alert          # alert | block | resync
quality: {fail_ratio: 0.01, min_rows: 0, max_rows: null, max_event_age_seconds: null,
          max_null_rate: null}
alerts:
  dedupe_minutes: 60
  rate_limit: 20
  rate_period_minutes: 60
  routes:
    - {type: webhook, url: "https://hooks.slack.com/services/..."}
    - {type: log, path: data/alerts.jsonl}
    - {type: command, argv: [notify, --team, fraud]}
  rules:
    - {name: stale_values, metric: stale_entity_ratio, warn: 0.01, critical: 0.1}
serving: {refresh_seconds: 30, block_refresh_seconds: 5}   # the feature server's view
```

Example:
    >>> MonitorConfig().consistency.on_inconsistent
    <InconsistencyPolicy.ALERT: 'alert'>
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MONITOR_FILE = "monitoring.yaml"
# Rows a reference profile and a drift comparison sample (about 0.6 s per million rows).
DEFAULT_SAMPLE_ROWS = 20_000


class InconsistencyPolicy(enum.StrEnum):
    """What happens to a view version the consistency auditor finds inconsistent."""

    # Record it and raise an alert; keep serving.
    ALERT = "alert"
    # Record it as blocked and alert: feature servers answer 503 for it until a later
    # audit passes or an operator unblocks it ('parity unblock').
    BLOCK = "block"
    # Re-publish the whole version from the offline store (a validated sync run), then alert.
    RESYNC = "resync"


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature drifts: the thresholds the drift functions take
    (:meth:`DriftSettings.thresholds` builds them from the configuration).

    Example:
        >>> DriftThresholds().psi_critical
        0.2
    """

    psi_warn: float = 0.1
    psi_critical: float = 0.2
    ks_alpha: float = 0.05
    chi2_alpha: float = 0.01
    min_rows: int = 200
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    seed: int = 0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftSettings(_Strict):
    """Drift thresholds (see :class:`parity.monitor.drift.DriftThresholds`)."""

    psi_warn: float = 0.1
    psi_critical: float = 0.2
    ks_alpha: float = 0.05
    chi2_alpha: float = 0.01
    min_rows: Annotated[int, Field(ge=1)] = 200
    sample_rows: Annotated[int, Field(ge=10)] = 20_000
    # Save the reference profile with every training dataset (job.save); about 0.6 s per
    # million rows and seven features on top of the save (docs/monitoring.md).
    profile_on_save: bool = True

    def thresholds(self) -> DriftThresholds:
        """As the dataclass the drift functions take."""
        return DriftThresholds(**self.model_dump(exclude={"profile_on_save"}))


class ViewConsistency(_Strict):
    """Per-view override of the consistency policy."""

    max_mismatch_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    on_inconsistent: InconsistencyPolicy | None = None


class ConsistencySettings(_Strict):
    """When a view version is inconsistent, and what follows."""

    max_mismatch_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    on_inconsistent: InconsistencyPolicy = InconsistencyPolicy.ALERT
    sample: Annotated[int, Field(ge=1)] = 1000
    views: dict[str, ViewConsistency] = {}

    def for_view(self, view: str) -> tuple[float, InconsistencyPolicy]:
        """The threshold and policy of one view."""
        override = self.views.get(view, ViewConsistency())
        rate = override.max_mismatch_rate
        policy = override.on_inconsistent
        return (
            self.max_mismatch_rate if rate is None else rate,
            self.on_inconsistent if policy is None else policy,
        )


class QualitySettings(_Strict):
    """Bounds of the data quality checks beyond the view's own contract."""

    fail_ratio: Annotated[float, Field(ge=0, le=1)] = 0.01
    min_rows: Annotated[int, Field(ge=0)] = 0
    max_rows: Annotated[int, Field(ge=0)] | None = None
    max_event_age_seconds: Annotated[float, Field(gt=0)] | None = None
    max_null_rate: Annotated[float, Field(ge=0, le=1)] | None = None


class RouteSettings(_Strict):
    """One alert route."""

    type: Literal["webhook", "log", "command"]
    url: str | None = None
    path: str | None = None
    argv: list[str] | None = None


class RuleSettings(_Strict):
    """One alert rule."""

    name: str
    metric: str
    warn: float | None = None
    critical: float | None = None
    above: bool = True


DEFAULT_RULES = (
    RuleSettings(name="stale_values", metric="stale_entity_ratio", warn=0.01, critical=0.1),
    RuleSettings(name="missed_refresh", metric="missed_refreshes", warn=1, critical=3),
    RuleSettings(name="feature_drift", metric="psi", warn=0.1, critical=0.2),
    RuleSettings(name="online_offline_skew", metric="mismatch_rate", warn=1e-9, critical=0.01),
    RuleSettings(name="data_quality", metric="quality_failed_checks", warn=1, critical=1),
    RuleSettings(name="model_performance", metric="f1_drop", warn=0.02, critical=0.05),
    RuleSettings(name="model_ranking", metric="roc_auc_drop", warn=0.02, critical=0.05),
)


class AlertSettings(_Strict):
    """Routes, rules, de-duplication and rate limit."""

    dedupe_minutes: Annotated[float, Field(ge=0)] = 60
    rate_limit: Annotated[int, Field(ge=0)] = 20
    rate_period_minutes: Annotated[float, Field(gt=0)] = 60
    routes: list[RouteSettings] = [RouteSettings(type="log")]
    rules: list[RuleSettings] = list(DEFAULT_RULES)


class ServingSettings(_Strict):
    """What a feature server computes for ``/metrics`` and the block policy, and how often.

    Both refreshes run in a background thread of each server process, never per request.
    """

    # Recompute the freshness, audit and quality gauges this often.
    refresh_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Re-read new audits and unblocks (blocked view versions) this often.
    block_refresh_seconds: Annotated[float, Field(gt=0)] = 5.0


class MonitorConfig(_Strict):
    """The ``monitoring:`` section of parity.yaml (or the whole of ``monitoring.yaml``)."""

    drift: DriftSettings = DriftSettings()
    consistency: ConsistencySettings = ConsistencySettings()
    quality: QualitySettings = QualitySettings()
    alerts: AlertSettings = AlertSettings()
    serving: ServingSettings = ServingSettings()
