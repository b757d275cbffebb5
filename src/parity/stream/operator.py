"""What an operator reads from a running processor or capture: Prometheus metrics on its
own port, ``/healthz`` (the loop is alive) and ``/readyz`` (it owns partitions, or the
capture streams).

The endpoints read plain counters (:class:`~parity.stream.metrics.StreamMetrics`,
:class:`~parity.cdc.metrics.CaptureMetrics`) through callables, on a daemon thread of
the standard library's HTTP server: the hot loop is never touched. ``prometheus_client``
renders the text format.

Example:
    >>> server = serve_operator_endpoints(0, metrics=lambda: {"applied": 3},  # doctest: +SKIP
    ...                                   ready=lambda: True, prefix="parity_stream")
    >>> server.server_address[1] > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parity.stream.processor import StreamProcessor

# Publish-to-online latency buckets, seconds (the processor's p99 is a few ms).
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


def render_metrics(
    prefix: str,
    values: Mapping[str, Any],
    *,
    latencies_us: Iterable[int] = (),
    labels: Mapping[str, Mapping[str, float]] | None = None,
) -> bytes:
    """Prometheus text: one gauge per numeric value, a latency histogram, and labelled
    gauges (``{"lag_events": {"0": 12}}`` -> ``prefix_lag_events{partition="0"} 12``).

    Example:
        >>> b"parity_stream_applied 3.0" in render_metrics("parity_stream", {"applied": 3})
        True
    """
    from prometheus_client import CollectorRegistry, Gauge, Histogram
    from prometheus_client.exposition import generate_latest

    registry = CollectorRegistry()
    for name, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            Gauge(f"{prefix}_{name}", name.replace("_", " "), registry=registry).set(value)
    histogram = Histogram(
        f"{prefix}_publish_to_online_seconds",
        "Transport accepted a message -> its value written online (recent messages).",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for latency in latencies_us:
        histogram.observe(latency / 1e6)
    for name, by_partition in (labels or {}).items():
        gauge = Gauge(f"{prefix}_{name}", name, ["partition"], registry=registry)
        for partition, value in by_partition.items():
            gauge.labels(partition=partition).set(value)
    return generate_latest(registry)


def serve_operator_endpoints(
    port: int,
    *,
    metrics: Callable[[], bytes],
    ready: Callable[[], bool],
    alive: Callable[[], bool] = lambda: True,
    host: str = "127.0.0.1",
) -> ThreadingHTTPServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on a daemon thread; ``port`` 0
    picks a free one (``server.server_address``). Call ``shutdown()`` to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, metrics(), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                ok = alive()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
            elif self.path == "/readyz":
                ok = ready()
                self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="parity-operator", daemon=True).start()
    return server


class Heartbeat:
    """The loop beats once per turn; ``alive()`` is false when it stopped beating.

    Example:
        >>> beat = Heartbeat(stalled_after_seconds=30)
        >>> beat.beat(); beat.alive()
        True
    """

    def __init__(self, *, stalled_after_seconds: float) -> None:
        self.stalled_after_seconds = stalled_after_seconds
        self._last = time.monotonic()

    def beat(self) -> None:
        """Record a turn."""
        self._last = time.monotonic()

    def alive(self) -> bool:
        """Whether the loop turned recently."""
        return time.monotonic() - self._last < self.stalled_after_seconds

    def age(self) -> float:
        """Seconds since the last turn."""
        return time.monotonic() - self._last


def processor_endpoints(
    processor: StreamProcessor, /, *, port: int, stalled_after_seconds: float = 30.0
) -> ThreadingHTTPServer:
    """A processor's endpoints: its counters, lag per partition (events the group has not
    read yet; Redis Streams), checkpoint age, window state size, the publish-to-online
    histogram; ready while it owns partitions; healthy while its loop turns.

    Example:
        >>> server = processor_endpoints(processor, port=9464)  # doctest: +SKIP
    """
    checkpoints = {"count": -1, "at": time.monotonic()}

    def metrics() -> bytes:
        values: dict[str, Any] = {
            k: v for k, v in processor.metrics.to_dict().items() if v is not None
        }
        if processor.metrics.checkpoints != checkpoints["count"]:
            checkpoints["count"], checkpoints["at"] = (
                processor.metrics.checkpoints,
                time.monotonic(),
            )
        values["checkpoint_age_seconds"] = time.monotonic() - checkpoints["at"]
        sizes = processor.window_state_size()
        values["window_state_entities"] = sum(sizes.values())
        labels: dict[str, dict[str, float]] = {
            "window_state_entities_by_partition": {str(p): n for p, n in sizes.items()}
        }
        labels["lag_events"] = _redis_lag(processor, sorted(sizes))
        return render_metrics(
            "parity_stream",
            values,
            latencies_us=list(processor.metrics.latencies_us)[-5000:],
            labels=labels,
        )

    return serve_operator_endpoints(
        port,
        metrics=metrics,
        ready=lambda: processor.metrics.partitions_owned > 0,
        alive=lambda: time.monotonic() - processor.last_turn < stalled_after_seconds,
    )


def _redis_lag(processor: StreamProcessor, partitions: list[int]) -> dict[str, float]:
    """Entries of each owned partition the group has not been delivered (Redis >= 7)."""
    if processor.settings.transport != "redis" or not partitions:
        return {}
    import redis

    client = redis.Redis.from_url(processor.settings.url)
    out: dict[str, float] = {}
    try:
        for partition in partitions:
            for group in client.xinfo_groups(f"{processor.settings.stream}:{partition}"):
                name = group.get("name")
                if name in (processor.group, processor.group.encode()):
                    lag = group.get("lag")
                    if lag is not None:
                        out[str(partition)] = float(lag)
    except redis.RedisError:
        return out
    finally:
        client.close()
    return out
