"""Counters of a stream processor, for logs, the CLI and the server's /metrics.

Example:
    >>> m = StreamMetrics()
    >>> m.received += 3
    >>> m.to_dict()["received"]
    3
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field


@dataclass
class StreamMetrics:
    """Running totals since the processor started (a plain, cheap to bump, record).

    ``received``: messages polled; ``applied``: events that entered the state;
    ``duplicates``: redeliveries recognised by event id; ``late_dropped``: events older
    than the allowed lateness (dead-lettered, not applied); ``dead_lettered``: undecodable
    or invalid messages; ``expiries``: window expiries that changed a value;
    ``offline_rows_appended``: raw events the offline appender confirmed. Latencies
    run from the transport accepting a message to its value being written online (Redis
    stream ids have millisecond resolution, so those read up to 1 ms high).
    """

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    late_dropped: int = 0
    dead_lettered: int = 0
    expiries: int = 0
    evicted: int = 0
    online_rows_written: int = 0
    offline_rows_appended: int = 0
    checkpoints: int = 0
    partitions_owned: int = 0
    # Offline appender child processes started again after dying.
    appender_restarts: int = 0
    # Turns retried while Redis or the transport was unreachable.
    dependency_retries: int = 0
    # Publish -> visible online, microseconds, for the most recent applied messages.
    latencies_us: deque[int] = field(default_factory=lambda: deque(maxlen=200_000), repr=False)

    def latency_percentile(self, q: float) -> int | None:
        """The ``q`` quantile (0..1) of recent publish-to-online latencies, microseconds."""
        if not self.latencies_us:
            return None
        ordered = sorted(self.latencies_us)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def to_dict(self) -> dict[str, int | None]:
        """A snapshot as a plain dict (the server engineer exposes these as gauges)."""
        data: dict[str, int | None] = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "latencies_us"
        }
        data["latency_p50_us"] = self.latency_percentile(0.5)
        data["latency_p99_us"] = self.latency_percentile(0.99)
        return data
