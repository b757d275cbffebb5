"""Per entity, the row that wins: the greatest ``(event, created)``.

The same order as the point-in-time join and the online write rule; used by the sync to
reduce a batch to one row per entity and by retractions to find the next-newest row.

Example:
    >>> import pyarrow as pa
    >>> rows = pa.table({"id": [1, 1], "x": [1, 2],
    ...                  "event_timestamp": pa.array([5, 3], pa.timestamp("us", "UTC"))})
    >>> latest_per_entity(rows, ["id"]).column("x").to_pylist()
    [1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parity.sync.validate import CREATED_TIMESTAMP, EVENT_TIMESTAMP

if TYPE_CHECKING:
    import pyarrow as pa


def latest_per_entity(rows: pa.Table, keys: list[str]) -> pa.Table:
    """Per entity, the row with the greatest ``(event, created)`` (a missing created
    timestamp orders before any present one; exact ties: the later row), ordered by the
    join keys.

    Hash-grouped maxima, level by level, instead of a sort of every row by keys and
    timestamps (measured on 1M rows of 100k entities: about 0.06 s instead of 0.5 s).

    Example:
        >>> import pyarrow as pa
        >>> rows = pa.table({"id": [2, 1, 2], "x": [1, 2, 3],
        ...                  "event_timestamp": pa.array([5, 1, 5], pa.timestamp("us", "UTC"))})
        >>> latest_per_entity(rows, ["id"]).column("x").to_pylist()
        [2, 3]
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    count = rows.num_rows
    if count == 0:
        return rows
    groups = _entity_ids(rows, keys)
    size = int(groups.max()) + 1
    levels = [rows.column(EVENT_TIMESTAMP).cast(pa.int64()).fill_null(_MIN_I64).to_numpy()]
    if CREATED_TIMESTAMP in rows.column_names:
        created = rows.column(CREATED_TIMESTAMP).cast(pa.int64())
        levels.append(created.is_valid().to_numpy().astype(np.int64))
        levels.append(created.fill_null(0).to_numpy())
    # Candidates narrow level by level: the greatest event time per entity, among those the
    # present created timestamps, the greatest of those, then the last row.
    candidates = np.arange(count, dtype=np.int64)
    group = groups
    for level in levels:
        value = level[candidates] if len(candidates) < count else level
        best = np.full(size, _MIN_I64, dtype=np.int64)
        np.maximum.at(best, group, value)
        candidates = candidates[value == best[group]]
        group = groups[candidates]
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, group, candidates)
    winners = rows.take(pa.array(last))
    return winners.take(pc.sort_indices(winners, [(k, "ascending", "at_start") for k in keys]))


_MIN_I64 = -(2**63)


def _entity_ids(rows: pa.Table, keys: list[str]) -> Any:
    """A dense int64 id per row, equal for rows with equal join keys (nulls included)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = None
    for key in keys:
        codes = (
            pc.dictionary_encode(rows.column(key).combine_chunks(), null_encoding="encode")
            .indices.to_numpy()
            .astype(np.int64)
        )
        ids = codes if ids is None else ids * (int(codes.max()) + 1) + codes
        if len(keys) > 1:
            ids = pc.dictionary_encode(pa.array(ids)).indices.to_numpy().astype(np.int64)
    assert ids is not None
    return ids
