"""Counters of a change data capture, for logs, benchmarks and Prometheus.

Example:
    >>> m = CaptureMetrics()
    >>> m.changes_published += 2
    >>> m.to_dict()["changes_published"]
    2
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field


@dataclass
class CaptureMetrics:
    """Running totals since the capture started (a plain record, cheap to bump).

    ``slot_lag_bytes``: WAL the database keeps for the slot (current WAL position minus
    the confirmed flush position), read every ``status_interval_seconds``; it grows when
    the capture stalls, and with it the database's disk use. ``commit_to_publish_us``:
    database commit time to the transport accepting the change, for recent changes.
    """

    snapshot_rows: int = 0
    snapshot_seconds: float = 0.0
    transactions: int = 0
    changes_published: int = 0
    deletes_published: int = 0
    publishes: int = 0
    confirmed_position: str = ""
    slot_lag_bytes: int = 0
    slot_lag_alerts: int = 0
    commit_to_publish_us: deque[int] = field(
        default_factory=lambda: deque(maxlen=200_000), repr=False
    )

    def to_dict(self) -> dict[str, int | float | str]:
        """A snapshot as a plain dict."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "commit_to_publish_us"
        }
