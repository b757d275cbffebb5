"""Monitoring results as Prometheus gauges, for the feature server's ``/metrics``.

:func:`monitoring_metrics` is what a server calls: it checks freshness of every live
view version and returns the Prometheus text exposition of the gauges, to be appended
to the server's own metrics. :func:`freshness_gauges` gives the same as plain values.

Example:
    >>> text = render_gauges([Gauge("parity_monitor_missed_refreshes", "Missed syncs.",
    ...                             {"view": "user_stats", "version": "1"}, 2.0)])
    >>> text.splitlines()[-1]
    'parity_monitor_missed_refreshes{view="user_stats",version="1"} 2.0'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

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
}


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
