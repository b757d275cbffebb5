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

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
