"""The offline side of an audit: keys that must be online because a sync published them.

Sampling only the keys the online store holds cannot see keys that are missing from it:
a Redis that lost 90% of its keys, or was wiped, would look consistent (or have no data).
:func:`expected_online_keys` samples entity keys from the offline source, within the
event-time window of the newest successful sync of the view version (the rows that sync
published); :func:`parity.monitor.audit.audit_view` counts each one the online store does
not hold as disagreeing (``missing_online``).

A version that never synced successfully expects nothing online.

Example:
    >>> expected_online_keys(spec, registry.sync_records("fraud", "stats", 1),
    ...                      sample=1000)  # doctest: +SKIP
    pyarrow.Table
    user_id: int64
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from parity.offline.base import ViewReadSpec
from parity.offline.changes import read_source_rows
from parity.registry import SyncRecord

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["expected_online_keys", "published_window"]


def _instant(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def published_window(
    records: Sequence[SyncRecord],
) -> tuple[datetime | None, datetime] | None:
    """The event-time window ``[start, end)`` the newest successful sync published (start
    None: from the beginning), or None when no sync succeeded. Records are newest first.

    Example:
        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 1, 2, tzinfo=UTC)
        >>> record = SyncRecord("r1", "stats", 1, at, at, "succeeded",
        ...     details={"window": {"start": "2026-01-01T00:00:00+00:00", "end": None}})
        >>> [d.day for d in published_window([record])]
        [1, 2]
    """
    for record in records:
        if record.outcome != "succeeded":
            continue
        window = record.details.get("window") or {}
        end = _instant(window.get("end")) or record.started_at
        return _instant(window.get("start")), min(end, record.started_at)
    return None


def expected_online_keys(
    spec: ViewReadSpec, records: Sequence[SyncRecord], *, sample: int, seed: int = 0
) -> pa.Table | None:
    """A uniform sample of the entity keys the newest successful sync published (distinct
    keys of the source rows in its window), or None when nothing was published.

    Example:
        >>> expected_online_keys(spec, [], sample=10) is None  # doctest: +SKIP
        True
    """
    import pyarrow as pa

    window = published_window(records)
    if window is None:
        return None
    start, end = window
    rows, _ = read_source_rows(spec, start=start, end=end)
    keys = [key.name for key in spec.join_keys]
    distinct = rows.select(keys).group_by(keys).aggregate([])
    if distinct.num_rows > sample:
        rng = np.random.default_rng(seed)
        picked = np.sort(rng.choice(distinct.num_rows, sample, replace=False))
        distinct = distinct.take(pa.array(picked))
    return distinct
