"""Prometheus metrics of the feature server, in an app-owned registry.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by ``parity serve``
before the workers start and ``/metrics`` aggregates every worker's values (the
``prometheus_client`` multiprocess mode); with one process the metrics live in this
object's own registry (no global state).

Example:
    >>> metrics = ServerMetrics()
    >>> metrics.requests.labels("/health", "", "200").inc()
    >>> b"parity_requests_total" in metrics.render()[0]
    True
"""

from __future__ import annotations

import bisect
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
_AGE_BUCKETS = (1, 10, 60, 300, 900, 3600, 6 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 30 * 86_400)


class ServerMetrics:
    """Every metric the server exports.

    Example:
        >>> ServerMetrics().render()[1].startswith("text/plain")
        True
    """

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self.registry
        self.requests = Counter(
            "parity_requests",
            "HTTP requests by endpoint, feature service and status code.",
            ["endpoint", "service", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "parity_request_latency_seconds",
            "Time from request received to answer ready, by endpoint and feature service.",
            ["endpoint", "service"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.entities = Counter(
            "parity_entities_served",
            "Entity rows answered, by feature service.",
            ["service"],
            registry=registry,
        )
        self.online_store_errors = Counter(
            "parity_online_store_errors",
            "Online store calls that failed (unreachable, timeout).",
            ["operation"],
            registry=registry,
        )
        self.statuses = Counter(
            "parity_served_values",
            "Served values by view version and status (present, not_found, ...).",
            ["view", "status"],
            registry=registry,
        )
        self.staleness = Histogram(
            "parity_served_feature_age_seconds",
            "Age (served_at - event time) of served values, per view version.",
            ["view"],
            buckets=_AGE_BUCKETS,
            registry=registry,
        )
        self.rows_pushed = Counter(
            "parity_push_rows_written",
            "Rows accepted by /push, by push source.",
            ["push_source"],
            registry=registry,
        )
        self.rows_rejected = Counter(
            "parity_push_rows_rejected",
            "Rows /push rejected (quarantined), by push source.",
            ["push_source"],
            registry=registry,
        )
        self.log_rows = Counter(
            "parity_request_log_rows_written",
            "Served entity rows written to the request log.",
            registry=registry,
        )
        self.log_dropped = Counter(
            "parity_request_log_rows_dropped",
            "Served entity rows not logged (sampled out or over the memory bound).",
            ["reason"],
            registry=registry,
        )
        self.log_pending = Gauge(
            "parity_request_log_pending_rows",
            "Rows waiting in memory for the request log writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.log_sample_rate = Gauge(
            "parity_request_log_sample_rate",
            "Fraction of requests currently logged (1 = all).",
            registry=registry,
            multiprocess_mode="min",
        )
        self.log_sample_rate.set(1.0)
        self.registry_up = Gauge(
            "parity_registry_up",
            "1 when the last registry refresh answered in time, 0 while it does not.",
            registry=registry,
            multiprocess_mode="min",
        )
        self.plan_age = Gauge(
            "parity_serving_plan_age_seconds",
            "Age of the registry answer the serving plans come from (stale-while-revalidate).",
            registry=registry,
            multiprocess_mode="max",
        )
        self.plan_max_staleness = Gauge(
            "parity_serving_plan_max_staleness_seconds",
            "registry_max_staleness_seconds: past this age reads answer 503.",
            registry=registry,
            multiprocess_mode="min",
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class HotMetrics:
    """The per-request metrics, accumulated in plain dicts and flushed into Prometheus.

    A Prometheus update takes a lock (and in multiprocess mode writes a memory-mapped
    file); a request touches up to a dozen series. Here a request costs a few dict
    increments; :meth:`flush` (about once a second, before every scrape and at shutdown)
    applies the sums. Histogram observations are bucketed here with the histogram's own
    bounds, so the exported buckets, sums and counts are exactly those of ``observe``.

    Example:
        >>> hot = HotMetrics(ServerMetrics())
        >>> hot.request("/health", "", 200, 0.0004)
        >>> hot.flush()
        >>> b'parity_requests_total{code="200"' in hot.metrics.render()[0]
        True
    """

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self._latency_bounds = _bounds(metrics.latency)
        self._age_bounds = _bounds(metrics.staleness)
        self._reset()

    def _reset(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._ages: dict[str, list[float]] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._entities: dict[str, int] = {}

    def request(self, endpoint: str, service: str, code: int, seconds: float) -> None:
        """One answered request and its latency."""
        key = (endpoint, service, code)
        self._requests[key] = self._requests.get(key, 0) + 1
        cell = self._latency.get(key[:2])
        if cell is None:
            cell = self._latency[key[:2]] = [0.0] * (len(self._latency_bounds) + 1)
        cell[bisect.bisect_left(self._latency_bounds, seconds)] += 1
        cell[-1] += seconds

    def age(self, view: str, seconds: float) -> None:
        """The age of one served value of ``view``."""
        cell = self._ages.get(view)
        if cell is None:
            cell = self._ages[view] = [0.0] * (len(self._age_bounds) + 1)
        cell[bisect.bisect_left(self._age_bounds, seconds)] += 1
        cell[-1] += seconds

    def status(self, view: str, status: str, count: int) -> None:
        """``count`` values of ``view`` served with ``status``."""
        key = (view, status)
        self._counts[key] = self._counts.get(key, 0) + count

    def entities(self, service: str, count: int) -> None:
        """``count`` entity rows answered for ``service``."""
        self._entities[service] = self._entities.get(service, 0) + count

    def flush(self) -> None:
        """Apply everything accumulated since the last flush."""
        requests, latency, ages = self._requests, self._latency, self._ages
        counts, entities = self._counts, self._entities
        self._reset()
        m = self.metrics
        for (endpoint, service, code), n in requests.items():
            m.requests.labels(endpoint, service, str(code)).inc(n)
        for key, cell in latency.items():
            _add_observations(m.latency.labels(*key), cell)
        for view, cell in ages.items():
            _add_observations(m.staleness.labels(view), cell)
        for (view, status), n in counts.items():
            m.statuses.labels(view, status).inc(n)
        for service, n in entities.items():
            m.entities.labels(service).inc(n)


def _bounds(histogram: Histogram) -> list[float]:
    return list(histogram._upper_bounds)


def _add_observations(child: Histogram, cell: list[float]) -> None:
    # What ``observe`` does per value (sum, then the first bucket whose bound is >= the
    # value; buckets are stored per bucket and summed at export), for many values at once.
    # Private attributes of prometheus_client; the metrics tests pin the exported result.
    for index, count in enumerate(cell[:-1]):
        if count:
            child._buckets[index].inc(count)
    child._sum.inc(cell[-1])
