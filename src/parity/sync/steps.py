"""The steps of one sync run, in order, each a small function of the run's state.

``SYNC_STEPS = (read_source, validate, quarantine_rejects, reduce_to_latest, publish)``.
Each step reads and fills fields of :class:`SyncRun`; the controller records each one
as it completes, so a sync record always says how far a run got.

Example:
    >>> [step.__name__ for step in SYNC_STEPS]
    ['read_source', 'validate', 'quarantine_rejects', 'reduce_to_latest', 'publish']
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.definitions import FeatureView
from parity.offline.base import ViewReadSpec
from parity.offline.changes import read_source_rows
from parity.offline.delta_writes import quarantine
from parity.online.base import OnlineStore, ViewTable, WriteResult
from parity.sync.validate import CREATED_TIMESTAMP, EVENT_TIMESTAMP, ValidationResult, validate_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.offline.source_scan import TableRead

# (phase, done, total): progress events for a progress bar.
Progress = Callable[[str, int, int], None]

PUBLISH_CHUNK_ROWS = 50_000
# Measured on 2 cores (100k rows per view): see publish().
PUBLISH_THREADS = 2


@dataclass
class SyncRun:
    """The state of one run as it moves through :data:`SYNC_STEPS`."""

    view: FeatureView
    version: int
    spec: ViewReadSpec
    table: ViewTable
    online: OnlineStore
    quarantine_root: Path
    now: datetime
    start: datetime | None = None
    end: datetime | None = None
    written_after: datetime | None = None
    written_before: datetime | None = None
    future_tolerance: timedelta = timedelta(minutes=5)
    progress: Progress | None = None
    chunk_rows: int = PUBLISH_CHUNK_ROWS
    # Called after each published chunk (the controller records the rows written so far,
    # so a run killed mid-publish shows what it wrote).
    chunk_published: Callable[[], None] | None = None
    rows: pa.Table | None = None
    table_read: TableRead | None = None
    validation: ValidationResult | None = None
    latest: pa.Table | None = None
    written: int = 0
    skipped: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        """Rows read from the source."""
        return 0 if self.rows is None else int(self.rows.num_rows)

    def report_progress(self, phase: str, done: int, total: int) -> None:
        """Forward a progress event, if anyone listens."""
        if self.progress is not None:
            self.progress(phase, done, total)


def read_source(run: SyncRun) -> None:
    """Read the rows of the window (and, incrementally, written after the watermark)."""
    run.rows, run.table_read = read_source_rows(
        run.spec,
        start=run.start,
        end=run.end,
        written_after=run.written_after,
        written_before=run.written_before,
    )
    run.details["table_read"] = run.table_read.to_dict()
    run.report_progress("read", run.rows_read, run.rows_read)


def validate(run: SyncRun) -> None:
    """Schema, entity keys, timestamps and the data contract, column-wise."""
    assert run.rows is not None
    run.validation = validate_rows(
        run.view, run.rows, now=run.now, future_tolerance=run.future_tolerance
    )
    run.details["rejections"] = run.validation.rule_counts()


def quarantine_rejects(run: SyncRun) -> None:
    """Rejected rows go to the view's quarantine table with their reasons: never dropped."""
    assert run.validation is not None
    if run.validation.rejected_count:
        where = quarantine(
            run.spec,
            run.validation.rejected,
            run.validation.reasons,
            operation="sync",
            root=run.quarantine_root,
        )
        run.details["quarantine"] = str(where)


def reduce_to_latest(run: SyncRun) -> None:
    """Keep each entity's greatest ``(event, created)`` valid row; nothing else can win online.

    Exact ties keep the row read last; the result is ordered by the join keys.
    """
    assert run.validation is not None
    run.latest = latest_per_entity(run.validation.valid, list(run.table.join_key_names))


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


def publish(run: SyncRun) -> None:
    """Write the latest rows to the view version's online namespace, in chunks.

    Chunks hold distinct entities (one row per entity), so they are written by
    :data:`PUBLISH_THREADS` threads at once: one encodes while another waits on the store.
    Progress is reported in chunk order.
    """
    assert run.latest is not None
    latest = run.latest
    total = int(latest.num_rows)
    run.report_progress("publish", 0, total)
    offsets = range(0, total, run.chunk_rows)

    def write(offset: int) -> WriteResult:
        return run.online.write(run.table, latest.slice(offset, run.chunk_rows))

    with ThreadPoolExecutor(PUBLISH_THREADS, thread_name_prefix="parity-publish") as pool:
        for offset, result in zip(offsets, pool.map(write, offsets), strict=True):
            run.written += result.written
            run.skipped += result.skipped
            if run.chunk_published is not None:
                run.chunk_published()
            run.report_progress("publish", min(offset + run.chunk_rows, total), total)


SYNC_STEPS: tuple[Callable[[SyncRun], None], ...] = (
    read_source,
    validate,
    quarantine_rejects,
    reduce_to_latest,
    publish,
)
