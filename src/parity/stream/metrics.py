"""Counters of a stream processor, for logs, the CLI and the server's /metrics.

Example:
    >>> m = StreamMetrics()
    >>> m.received += 3
    >>> m.to_dict()["received"]
    3
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class StreamMetrics:
    """Running totals since the processor started (a plain, cheap to bump, record).

    ``received``: messages polled; ``applied``: events that entered the state;
    ``duplicates``: redeliveries recognised by event id; ``late_dropped``: events older
    than the allowed lateness (dead-lettered, not applied); ``dead_lettered``: undecodable
    or invalid messages; ``expiries``: window expiries that changed a value.
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

    def to_dict(self) -> dict[str, int]:
        """A snapshot as a plain dict (the server engineer exposes these as gauges)."""
        return dataclasses.asdict(self)
