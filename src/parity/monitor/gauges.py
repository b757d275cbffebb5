"""Monitoring results as Prometheus gauges, for the feature server's ``/metrics``.

Per view version: freshness (:func:`freshness_gauges`), the newest consistency audit
(:func:`audit_gauges`), the newest data quality run (:func:`quality_gauges`) and whether
the block policy keeps it from serving (:func:`blocked_gauges`). A feature server
computes them in the background (:class:`parity.monitor.serving.ServingMonitor`);
:func:`monitoring_metrics` is the one-off freshness form.

Example:
    >>> text = render_gauges([Gauge("parity_monitor_missed_refreshes", "Missed syncs.",
    ...                             {"view": "user_stats", "version": "1"}, 2.0)])
    >>> text.splitlines()[-1]
    'parity_monitor_missed_refreshes{view="user_stats",version="1"} 2.0'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parity.monitor.freshness import FreshnessReport, FreshnessStatus, check_freshness
from parity.online.base import OnlineStore
from parity.registry import Registry

_HELP = {
    "parity_monitor_freshness_lag_seconds": "Now minus the newest event time held online.",
    "parity_monitor_stale_entity_ratio": "Share of online entities older than the view's max age.",
    "parity_monitor_missed_refreshes": "Whole refresh periods since the last successful sync.",
    "parity_monitor_sync_delay_seconds": "Delay of the last successful sync (finish - newest row).",
    "parity_monitor_online_entities": "Entities held online by the view version.",
    "parity_monitor_fresh": "1 when the view version is fresh (or has no policy), else 0.",
    "parity_monitor_audit_mismatch_rate": "Share of keys that disagreed in the newest audit.",
    "parity_monitor_audit_max_mismatch_rate": "The mismatch rate the newest audit allowed.",
    "parity_monitor_audit_inconsistent": "1 when the newest audit found the version inconsistent.",
    "parity_monitor_audit_timestamp_seconds": "Unix time of the newest audit.",
    "parity_monitor_quality_status": "1 for the newest quality run's outcome (pass, warn, fail).",
    "parity_monitor_quality_failed_checks": "Failed checks of the newest quality run.",
    "parity_monitor_quality_warned_checks": "Warned checks of the newest quality run.",
    "parity_monitor_quality_timestamp_seconds": "Unix time of the newest quality run.",
    "parity_monitor_blocked": "1 while the block policy keeps the version from serving.",
}
_QUALITY_OUTCOMES = ("pass", "warn", "fail")


@dataclass(frozen=True)
class Gauge:
    """One gauge sample.

    Example:
        >>> Gauge("g", "help", {"view": "v"}, 1.0).value
        1.0
    """

    name: str
    help: str
    labels: Mapping[str, str]
    value: float


def freshness_gauges(reports: Sequence[FreshnessReport]) -> list[Gauge]:
    """Gauges of freshness reports, labelled by view and version."""
    gauges = []
    for r in reports:
        labels = {"view": r.view, "version": str(r.version)}
        values = {
            "parity_monitor_freshness_lag_seconds": r.freshness_lag_seconds,
            "parity_monitor_stale_entity_ratio": r.stale_entity_ratio,
            "parity_monitor_missed_refreshes": r.missed_refreshes,
            "parity_monitor_sync_delay_seconds": r.sync_delay_seconds,
            "parity_monitor_online_entities": r.entities,
            "parity_monitor_fresh": float(
                r.status in (FreshnessStatus.FRESH, FreshnessStatus.NO_POLICY)
            ),
        }
        gauges += [
            Gauge(name, _HELP[name], labels, float(value))
            for name, value in values.items()
            if value is not None
        ]
    return gauges


def _labels(view: str, version: int) -> dict[str, str]:
    return {"view": view, "version": str(version)}


def audit_gauges(audits: Iterable[Mapping[str, Any]]) -> list[Gauge]:
    """Gauges of the newest audit of each version (rows of the stored audits table).

    Example:
        >>> from datetime import UTC
        >>> row = {"view": "v", "version": 1, "mismatch_rate": 0.5, "max_mismatch_rate": 0.1,
        ...        "status": "inconsistent", "at": datetime(2026, 1, 1, tzinfo=UTC)}
        >>> [g.value for g in audit_gauges([row])][:3]
        [0.5, 0.1, 1.0]
    """
    gauges = []
    for row in audits:
        labels = _labels(row["view"], int(row["version"]))
        values = {
            "parity_monitor_audit_mismatch_rate": float(row["mismatch_rate"]),
            "parity_monitor_audit_max_mismatch_rate": float(row["max_mismatch_rate"]),
            "parity_monitor_audit_inconsistent": float(row["status"] == "inconsistent"),
            "parity_monitor_audit_timestamp_seconds": row["at"].timestamp(),
        }
        gauges += [Gauge(name, _HELP[name], labels, value) for name, value in values.items()]
    return gauges


@dataclass(frozen=True)
class QualityOutcome:
    """The newest quality run of one view version, as the gauges show it.

    Example:
        >>> QualityOutcome("v", 1, "r1", datetime(2026, 1, 1), 1, 0).status
        'fail'
    """

    view: str
    version: int
    run_id: str
    at: datetime
    failed: int
    warned: int

    @property
    def status(self) -> str:
        """``fail``, ``warn`` or ``pass``."""
        return "fail" if self.failed else "warn" if self.warned else "pass"


def quality_gauges(outcomes: Iterable[QualityOutcome]) -> list[Gauge]:
    """Gauges of the newest quality run of each version (one state-set gauge + counts).

    Example:
        >>> o = QualityOutcome("v", 1, "r1", datetime(2026, 1, 1), 0, 2)
        >>> [(g.labels.get("status"), g.value) for g in quality_gauges([o])][:3]
        [('pass', 0.0), ('warn', 1.0), ('fail', 0.0)]
    """
    gauges = []
    name = "parity_monitor_quality_status"
    for o in outcomes:
        labels = _labels(o.view, o.version)
        gauges += [
            Gauge(name, _HELP[name], {**labels, "status": s}, float(o.status == s))
            for s in _QUALITY_OUTCOMES
        ]
        values = {
            "parity_monitor_quality_failed_checks": float(o.failed),
            "parity_monitor_quality_warned_checks": float(o.warned),
            "parity_monitor_quality_timestamp_seconds": o.at.timestamp(),
        }
        gauges += [Gauge(n, _HELP[n], labels, value) for n, value in values.items()]
    return gauges


def blocked_gauges(audited: Iterable[tuple[str, int]], blocked: Iterable[str]) -> list[Gauge]:
    """``parity_monitor_blocked`` of every audited version (``blocked``: ``view@vN`` refs).

    Example:
        >>> [g.value for g in blocked_gauges([("v", 1), ("w", 2)], {"w@v2"})]
        [0.0, 1.0]
    """
    name = "parity_monitor_blocked"
    refs = set(blocked)
    return [
        Gauge(name, _HELP[name], _labels(view, version), float(f"{view}@v{version}" in refs))
        for view, version in audited
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_gauges(gauges: Sequence[Gauge]) -> str:
    """Prometheus text exposition format (HELP and TYPE once per metric name)."""
    lines: list[str] = []
    seen: set[str] = set()
    for g in sorted(gauges, key=lambda g: g.name):
        if g.name not in seen:
            seen.add(g.name)
            lines += [f"# HELP {g.name} {g.help}", f"# TYPE {g.name} gauge"]
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in g.labels.items())
        lines.append(f"{g.name}{{{labels}}} {g.value!r}")
    return "\n".join(lines) + "\n" if lines else ""


def monitoring_metrics(
    registry: Registry, online: OnlineStore, project: str, *, now: datetime | None = None
) -> str:
    """Freshness gauges of every live view version, as Prometheus text.

    Scans the online store, so call it at scrape rate (seconds), not per request.

    Example:
        >>> monitoring_metrics(store.registry, store.online, store.project)  # doctest: +SKIP
    """
    return render_gauges(freshness_gauges(check_freshness(registry, online, project, now=now)))
