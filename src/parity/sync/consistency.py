"""Sampled online/offline consistency: the online value must equal the offline
point-in-time value at the same instant, exactly.

This is the check that gates promotion of a new view version, and the core of the
consistency auditor.

Example:
    >>> values_equal(1.5, 1.5), values_equal(float("nan"), float("nan")), values_equal(None, 0)
    (True, True, False)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parity.offline.base import OfflineEngine, ViewReadSpec
from parity.online.base import OnlineStore, ReadRequest, ViewTable

if TYPE_CHECKING:
    import pyarrow as pa


def values_equal(left: Any, right: Any) -> bool:
    """Exact equality, with NaN equal to NaN (the same stored value)."""
    if (
        isinstance(left, float)
        and isinstance(right, float)
        and math.isnan(left)
        and math.isnan(right)
    ):
        return True
    return bool(left == right) and (left is None) == (right is None)


@dataclass(frozen=True)
class ConsistencySample:
    """How many keys were compared and which differed (first few, described)."""

    sampled: int
    mismatches: int
    examples: tuple[str, ...]


def compare_online_offline(
    engine: OfflineEngine,
    online: OnlineStore,
    spec: ViewReadSpec,
    table: ViewTable,
    keys: pa.Table,
    *,
    at: datetime,
    max_examples: int = 5,
) -> ConsistencySample:
    """Compare the online values of ``keys`` with the offline point-in-time values at ``at``.

    The offline read ignores the ttl: the online store holds the newest value whatever
    its age (the ttl is applied when serving), so that is what must match.
    """
    import pyarrow as pa

    if keys.num_rows == 0:
        return ConsistencySample(0, 0, ())
    key_names = list(table.join_key_names)
    entity = keys.select(key_names).append_column(
        "event_timestamp", pa.array([at] * keys.num_rows, pa.timestamp("us", tz="UTC"))
    )
    offline = (
        engine.get_historical_features(entity, [dataclasses.replace(spec, ttl=None)])
        .to_arrow()
        .to_pylist()
    )
    key_tuples = [tuple(row[k] for k in key_names) for row in offline]
    [online_rows] = online.read([ReadRequest(table, key_tuples)])
    mismatches, examples = 0, list[str]()
    for key, offline_row, online_row in zip(key_tuples, offline, online_rows, strict=True):
        online_values = (
            (None,) * len(table.feature_names) if online_row is None else online_row.values
        )
        for name, online_value in zip(table.feature_names, online_values, strict=True):
            if not values_equal(online_value, offline_row[name]):
                mismatches += 1
                if len(examples) < max_examples:
                    examples.append(
                        f"{dict(zip(key_names, key, strict=True))} {name}: online "
                        f"{online_value!r} != offline {offline_row[name]!r}"
                    )
                break
    return ConsistencySample(len(key_tuples), mismatches, tuple(examples))
