"""Alerts: rules turn monitor observations into warn/critical alerts, routes deliver them.

Every monitor speaks :class:`Observation` (a metric of a subject, with its evidence);
an :class:`AlertRule` compares one metric with its warn and critical thresholds; the
:class:`AlertDispatcher` de-duplicates (the same rule, subject and severity is delivered
once per ``dedupe_window``), rate-limits (at most ``rate_limit`` deliveries per
``rate_period``), delivers to every route, and stores every alert, delivered or not,
with its evidence and outcome in ``<offline path>/monitoring/alerts`` (Parquet). The
stored table is the dispatcher's only state, so several processes share it.

Example:
    >>> rule = AlertRule("stale", "stale_entity_ratio", warn=0.01, critical=0.1)
    >>> rule.severity(0.05)
    <Severity.WARN: 'warn'>
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.monitor.config import AlertSettings
from parity.monitor.records import append_records, read_records
from parity.monitor.routes import Route, build_route

if TYPE_CHECKING:
    import pyarrow as pa

ALERTS_TABLE = "alerts"


class Severity(enum.StrEnum):
    """How bad an alert is."""

    # Worth a look during working hours.
    WARN = "warn"
    # Act now: serving is stale, skewed or failing.
    CRITICAL = "critical"


class Delivery(enum.StrEnum):
    """What the dispatcher did with an alert."""

    # Delivered to every route.
    SENT = "sent"
    # Not delivered: the same rule, subject and severity was sent within the dedupe window.
    DUPLICATE = "duplicate"
    # Not delivered: too many alerts were sent in the rate period.
    RATE_LIMITED = "rate_limited"
    # At least one route failed (its error is in ``errors``); the others were delivered.
    FAILED = "failed"


@dataclass(frozen=True)
class Observation:
    """One measured value of one subject (``user_stats@v2``, ``fraud_train:amount``).

    Example:
        >>> Observation("psi", "fraud_train:amount", 0.31, {"bins": 10}).metric
        'psi'
    """

    metric: str
    subject: str
    value: float
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRule:
    """Alert on ``metric`` at or beyond ``warn`` / ``critical`` (below them if not ``above``).

    Example:
        >>> AlertRule("f1", "f1_drop", warn=0.02, critical=0.05).severity(0.07)
        <Severity.CRITICAL: 'critical'>
    """

    name: str
    metric: str
    warn: float | None = None
    critical: float | None = None
    above: bool = True

    def severity(self, value: float) -> Severity | None:
        """The severity ``value`` deserves, or None."""

        def crossed(threshold: float | None) -> bool:
            if threshold is None:
                return False
            return value >= threshold if self.above else value <= threshold

        if crossed(self.critical):
            return Severity.CRITICAL
        if crossed(self.warn):
            return Severity.WARN
        return None

    def threshold(self, severity: Severity) -> float | None:
        """The threshold of one severity."""
        return self.critical if severity is Severity.CRITICAL else self.warn


@dataclass(frozen=True)
class Alert:
    """One alert, as stored and as delivered.

    Example:
        >>> from datetime import datetime, timezone
        >>> rule = AlertRule("stale", "stale_entity_ratio", warn=0.01, critical=0.1)
        >>> seen = Observation("stale_entity_ratio", "user_stats@v2", 0.4, {})
        >>> [alert] = evaluate([rule], [seen], now=datetime(2026, 1, 1, tzinfo=timezone.utc))
        >>> alert.summary
        'critical: stale_entity_ratio of user_stats@v2 is 0.4 (threshold 0.1)'
    """

    alert_id: str
    at: datetime
    rule: str
    metric: str
    severity: Severity
    subject: str
    value: float
    threshold: float | None
    summary: str
    evidence: Mapping[str, Any]
    delivery: Delivery = Delivery.SENT
    routes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    # Tells apart different failures of one rule and subject (see monitor/failures.py).
    topic: str = ""

    @property
    def dedupe_key(self) -> str:
        """Alerts with the same key are one alert, repeated."""
        key = f"{self.rule}|{self.subject}|{self.severity.value}"
        return f"{key}|{self.topic}" if self.topic else key

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what a command route receives on stdin)."""
        return {
            "alert_id": self.alert_id,
            "at": self.at.isoformat(),
            "rule": self.rule,
            "metric": self.metric,
            "severity": self.severity.value,
            "subject": self.subject,
            "value": self.value,
            "threshold": self.threshold,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "delivery": self.delivery.value,
            "routes": list(self.routes),
            "errors": list(self.errors),
        }


def alerts_schema() -> pa.Schema:
    """The Arrow schema of the stored alerts table.

    Example:
        >>> alerts_schema().names[:3]
        ['alert_id', 'at', 'rule']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("alert_id", pa.string()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("rule", pa.string()),
            ("metric", pa.string()),
            ("severity", pa.string()),
            ("subject", pa.string()),
            ("value", pa.float64()),
            ("threshold", pa.float64()),
            ("summary", pa.string()),
            ("evidence", pa.string()),  # JSON
            ("dedupe_key", pa.string()),
            ("delivery", pa.string()),
            ("routes", pa.list_(pa.string())),
            ("errors", pa.list_(pa.string())),
        ]
    )


def evaluate(
    rules: Sequence[AlertRule], observations: Sequence[Observation], *, now: datetime
) -> list[Alert]:
    """The alerts the rules raise on the observations (not yet delivered)."""
    alerts = []
    for observation in observations:
        for rule in rules:
            if rule.metric != observation.metric:
                continue
            severity = rule.severity(observation.value)
            if severity is None:
                continue
            threshold = rule.threshold(severity)
            alerts.append(
                Alert(
                    alert_id=uuid.uuid4().hex,
                    at=now,
                    rule=rule.name,
                    metric=rule.metric,
                    severity=severity,
                    subject=observation.subject,
                    value=float(observation.value),
                    threshold=threshold,
                    summary=(
                        f"{severity.value}: {rule.metric} of {observation.subject} is "
                        f"{observation.value:.4g} (threshold {threshold:.4g})"
                    ),
                    evidence=dict(observation.evidence),
                )
            )
    return alerts


class AlertDispatcher:
    """De-duplicates, rate-limits, delivers and stores alerts.

    Example:
        >>> from parity.monitor.routes import LogRoute
        >>> dispatcher = AlertDispatcher(Path("data/offline/monitoring"), [LogRoute()])
        >>> dispatcher.rate_limit
        20
        >>> dispatcher.dispatch(evaluate(rules, observations, now=now))  # doctest: +SKIP
    """

    def __init__(
        self,
        root: Path,
        routes: Sequence[Route],
        *,
        dedupe_window: timedelta = timedelta(hours=1),
        rate_limit: int = 20,
        rate_period: timedelta = timedelta(hours=1),
    ) -> None:
        self.root = root
        self.routes = tuple(routes)
        self.dedupe_window = dedupe_window
        self.rate_limit = rate_limit
        self.rate_period = rate_period

    def history(self) -> pa.Table:
        """Every stored alert."""
        return read_records(self.root, ALERTS_TABLE, alerts_schema())

    def dispatch(self, alerts: Sequence[Alert], *, now: datetime | None = None) -> list[Alert]:
        """Deliver what is new and within the rate limit; store all; return them with outcomes."""
        now = datetime.now(UTC) if now is None else now
        stored = self.history().to_pylist()
        delivered = [a for a in stored if a["delivery"] in (Delivery.SENT, Delivery.FAILED)]
        last_sent: dict[str, datetime] = {}
        for a in delivered:
            last_sent[a["dedupe_key"]] = max(a["at"], last_sent.get(a["dedupe_key"], a["at"]))
        budget = self.rate_limit - sum(1 for a in delivered if a["at"] > now - self.rate_period)
        outcomes = []
        for alert in alerts:
            previous = last_sent.get(alert.dedupe_key)
            if previous is not None and previous > now - self.dedupe_window:
                outcomes.append(_with(alert, Delivery.DUPLICATE))
                continue
            if budget <= 0:
                outcomes.append(_with(alert, Delivery.RATE_LIMITED))
                continue
            budget -= 1
            last_sent[alert.dedupe_key] = alert.at
            outcomes.append(self._deliver(alert))
        self._store(outcomes)
        return outcomes

    def _deliver(self, alert: Alert) -> Alert:
        errors = []
        names = []
        for route in self.routes:
            try:
                route.deliver(alert.to_dict())
                names.append(route.name)
            except Exception as exc:  # one broken route must not silence the others
                errors.append(f"{route.name}: {type(exc).__name__}: {exc}")
        outcome = Delivery.FAILED if errors else Delivery.SENT
        return _with(alert, outcome, routes=tuple(names), errors=tuple(errors))

    def _store(self, alerts: Sequence[Alert]) -> None:
        import pyarrow as pa

        rows = [
            {
                **{k: v for k, v in a.to_dict().items() if k not in ("at", "evidence")},
                "at": a.at,
                "evidence": json.dumps(dict(a.evidence), default=str, sort_keys=True),
                "dedupe_key": a.dedupe_key,
            }
            for a in alerts
        ]
        append_records(self.root, ALERTS_TABLE, pa.Table.from_pylist(rows, schema=alerts_schema()))


def _with(
    alert: Alert, delivery: Delivery, *, routes: tuple[str, ...] = (), errors: tuple[str, ...] = ()
) -> Alert:
    from dataclasses import replace

    return replace(alert, delivery=delivery, routes=routes, errors=errors)


def observations_to_dicts(observations: Sequence[Observation]) -> list[dict[str, Any]]:
    """Observations as plain dicts (for ``--json``)."""
    return [
        {"metric": o.metric, "subject": o.subject, "value": o.value, "evidence": dict(o.evidence)}
        for o in observations
    ]


def alert_rules(settings: AlertSettings) -> list[AlertRule]:
    """The ``monitoring.alerts.rules`` as :class:`AlertRule` values.

    Example:
        >>> [r.name for r in alert_rules(AlertSettings())][:2]
        ['stale_values', 'missed_refresh']
    """
    return [AlertRule(**r.model_dump()) for r in settings.rules]


def alert_dispatcher(settings: AlertSettings, root: Path, repo_root: Path) -> AlertDispatcher:
    """The dispatcher ``monitoring.alerts`` describes, storing alerts under ``root``.

    Example:
        >>> alert_dispatcher(AlertSettings(rate_limit=3), Path("m"), Path(".")).rate_limit
        3
    """
    return AlertDispatcher(
        root,
        [build_route(route, repo_root) for route in settings.routes],
        dedupe_window=timedelta(minutes=settings.dedupe_minutes),
        rate_limit=settings.rate_limit,
        rate_period=timedelta(minutes=settings.rate_period_minutes),
    )
