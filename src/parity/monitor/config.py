"""Monitoring settings: ``monitoring.yaml`` beside ``parity.yaml`` (optional).

Until ``parity.yaml`` grows a ``monitoring:`` section, the settings live in their own
file with the same strictness (unknown keys are errors). Every key has a default, so a
repository without the file is monitored with the defaults below.

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
```

Example:
    >>> MonitorConfig().consistency.on_inconsistent
    <InconsistencyPolicy.ALERT: 'alert'>
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parity.errors import ConfigError
from parity.monitor.alerts import AlertRule
from parity.monitor.drift import DriftThresholds
from parity.monitor.routes import CommandRoute, LogRoute, Route, WebhookRoute

MONITOR_FILE = "monitoring.yaml"


class InconsistencyPolicy(enum.StrEnum):
    """What happens to a view version the consistency auditor finds inconsistent."""

    # Record it and raise an alert; keep serving.
    ALERT = "alert"
    # Record it as blocked: the server should stop serving it (see serving_blocked()).
    BLOCK = "block"
    # Re-publish the version from the offline store right away, then alert.
    RESYNC = "resync"


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

    def thresholds(self) -> DriftThresholds:
        """As the dataclass the drift functions take."""
        return DriftThresholds(**self.model_dump())


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

    def build(self, repo_root: Path) -> Route:
        """The route object."""
        if self.type == "webhook":
            if not self.url:
                raise ConfigError("monitoring.yaml: a webhook route needs 'url'.")
            return WebhookRoute(self.url)
        if self.type == "command":
            if not self.argv:
                raise ConfigError("monitoring.yaml: a command route needs 'argv' (a list).")
            return CommandRoute(self.argv)
        path = None if self.path is None else Path(self.path)
        return LogRoute(None if path is None else path if path.is_absolute() else repo_root / path)


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
)


class AlertSettings(_Strict):
    """Routes, rules, de-duplication and rate limit."""

    dedupe_minutes: Annotated[float, Field(ge=0)] = 60
    rate_limit: Annotated[int, Field(ge=0)] = 20
    rate_period_minutes: Annotated[float, Field(gt=0)] = 60
    routes: list[RouteSettings] = [RouteSettings(type="log")]
    rules: list[RuleSettings] = list(DEFAULT_RULES)

    def alert_rules(self) -> list[AlertRule]:
        """The rules as :class:`AlertRule` values."""
        return [AlertRule(**r.model_dump()) for r in self.rules]


class MonitorConfig(_Strict):
    """The whole of ``monitoring.yaml``."""

    drift: DriftSettings = DriftSettings()
    consistency: ConsistencySettings = ConsistencySettings()
    quality: QualitySettings = QualitySettings()
    alerts: AlertSettings = AlertSettings()


def load_monitor_config(repo_root: Path) -> MonitorConfig:
    """``monitoring.yaml`` of a repository, or the defaults when there is none.

    Example:
        >>> load_monitor_config(Path("/nonexistent")).drift.min_rows
        200
    """
    path = repo_root / MONITOR_FILE
    if not path.is_file():
        return MonitorConfig()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return MonitorConfig.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"Invalid monitoring settings in {path}: {exc}") from exc
