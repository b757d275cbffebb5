"""Materialization on the offline engine's executors (engines with
:class:`parity.offline.partitions.PartitionedSourceRows`, e.g. Spark).

``DISTRIBUTED_SYNC_STEPS = (publish_partitions, quarantine_rejects)``: the engine
partitions the window's rows by entity and runs :class:`PartitionPublisher` on each
partition, on an executor. The publisher does exactly what the local steps do, on its
share of the entities: :func:`parity.sync.validate.validate_rows` on the rows,
:func:`parity.sync.steps.latest_per_entity` on the valid ones, and the same newer-wins
``OnlineStore.write`` in chunks, through one online store connection opened from the
typed config inside the partition. It returns counts, its rejected rows (with reasons;
they go to quarantine from the driver, as locally: bounded by ``max_reject_ratio``) and
small evenly spaced samples, plus the rows holding each maximum, so the controller's
version validation, delay and quality batch see what they would see locally.

The rows themselves never pass through the driver. What differs from the local path:
the quality batch the observer receives holds a sample of the rows (at most
:data:`QUALITY_SAMPLE_ROWS` per partition) instead of every row; the counts, rejections
and the validation record are the same.

Example:
    >>> [step.__name__ for step in DISTRIBUTED_SYNC_STEPS]
    ['publish_partitions', 'quarantine_rejects']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from parity.definitions import FeatureView
from parity.online.base import ViewTable
from parity.sync.latest import latest_per_entity
from parity.sync.run import SyncRun
from parity.sync.steps import quarantine_rejects
from parity.sync.validate import CREATED_TIMESTAMP, EVENT_TIMESTAMP, ValidationResult, validate_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.backends import BackendConfig

# Per partition: the rows sampled for the quality observer and for version validation.
QUALITY_SAMPLE_ROWS = 1_000
_COUNTS = ("rows_read", "written", "skipped", "latest")
_TABLES = ("rejected", "read_sample", "valid_sample", "latest_sample")


@dataclass(frozen=True)
class PartitionPublisher:
    """Validate, reduce and publish one partition's rows; runs on an executor.

    Example:
        >>> PartitionPublisher.schema().names[:3]
        ['rows_read', 'written', 'skipped']
    """

    view: FeatureView
    table: ViewTable
    online_config: BackendConfig
    repo_root: str
    now: datetime
    future_tolerance: timedelta
    chunk_rows: int
    sample_rows: int

    @classmethod
    def schema(cls) -> pa.Schema:
        """Counts, then each table as Arrow IPC bytes."""
        import pyarrow as pa

        return pa.schema(
            [*((name, pa.int64()) for name in _COUNTS), *((n, pa.binary()) for n in _TABLES)]
        )

    @property
    def output_schema(self) -> pa.Schema:
        """One row per partition (:meth:`schema`)."""
        return self.schema()

    def __call__(self, rows: pa.Table, /) -> pa.Table:
        import pyarrow as pa

        from parity.online import open_online_store

        validation = validate_rows(
            self.view, rows, now=self.now, future_tolerance=self.future_tolerance
        )
        keys = list(self.table.join_key_names)
        latest = latest_per_entity(validation.valid, keys)
        written = skipped = 0
        if latest.num_rows:
            with open_online_store(self.online_config, repo_root=self.repo_root) as online:
                for offset in range(0, latest.num_rows, self.chunk_rows):
                    result = online.write(self.table, latest.slice(offset, self.chunk_rows))
                    written += result.written
                    skipped += result.skipped
        rejected = validation.rejected.append_column("__reason", validation.reasons)
        rejected = rejected.append_column("__rule", validation.rules)
        counts = (rows.num_rows, written, skipped, latest.num_rows)
        tables = (
            rejected,
            _sample(rows, self.sample_rows, (EVENT_TIMESTAMP, CREATED_TIMESTAMP)),
            _sample(validation.valid, self.sample_rows, ()),
            _latest_sample(latest, validation.rejected, self.sample_rows, keys),
        )
        return pa.table(
            [*([c] for c in counts), *([_ipc(t)] for t in tables)], schema=self.schema()
        )


def _sample(rows: pa.Table, size: int, maxima: tuple[str, ...]) -> pa.Table:
    """Evenly spaced rows, plus the row holding the maximum of each ``maxima`` column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = rows.num_rows
    picks = list(range(n)) if n <= size else [int(i * n / size) for i in range(size)]
    for column in maxima:
        if n and column in rows.column_names and rows.column(column).null_count < n:
            values = rows.column(column).cast(pa.int64()).fill_null(-(2**63))
            picks.append(int(pc.index(values, pc.max(values)).as_py()))
    return rows.take(pa.array(sorted(set(picks)), pa.int64()))


def _latest_sample(latest: pa.Table, rejected: pa.Table, size: int, keys: list[str]) -> pa.Table:
    """Evenly spaced latest rows, plus the newest one among entities without rejected rows:
    version validation reads offline values as of that instant (all rows of an entity are
    in this partition, so the entities it leaves out are known here)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = latest.num_rows
    picks = set(range(n)) if n <= size else {int(i * n / size) for i in range(size)}
    clean = latest.append_column("__index", pa.array(range(n), pa.int64()))
    if rejected.num_rows and all(k in rejected.column_names for k in keys):
        clean = clean.join(rejected.select(keys), keys=keys, join_type="left anti")
    if clean.num_rows and clean.column(EVENT_TIMESTAMP).null_count < clean.num_rows:
        values = clean.column(EVENT_TIMESTAMP).cast(pa.int64()).fill_null(-(2**63))
        newest = int(pc.index(values, pc.max(values)).as_py())
        picks.add(int(clean.column("__index")[newest].as_py()))
    return latest.take(pa.array(sorted(picks), pa.int64()))


def _ipc(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _tables(outputs: pa.Table, name: str) -> pa.Table | None:
    import pyarrow as pa

    parts = [pa.ipc.open_stream(blob).read_all() for blob in outputs.column(name).to_pylist()]
    parts = [p for p in parts if p.num_columns]
    return pa.concat_tables(parts, promote_options="permissive") if parts else None


def publish_partitions(run: SyncRun) -> None:
    """Read, validate, reduce to the latest row per entity and publish on the engine's
    executors; gather counts, rejected rows and samples on the driver."""
    import pyarrow as pa
    import pyarrow.compute as pc

    assert run.partitions is not None and run.online_config is not None
    bounds: dict[str, Any] = {
        name: value
        for name, value in (
            ("start", run.start),
            ("end", run.end),
            ("written_after", run.written_after),
            ("written_before", run.written_before),
        )
        if value is not None
    }
    publisher = PartitionPublisher(
        view=run.view,
        table=run.table,
        online_config=run.online_config,
        repo_root=str(run.repo_root),
        now=run.now,
        future_tolerance=run.future_tolerance,
        chunk_rows=run.chunk_rows,
        sample_rows=QUALITY_SAMPLE_ROWS,
    )
    run.report_progress("publish", 0, 0)
    outputs, run.table_read = run.partitions.map_source_partitions(
        run.spec, bounds=bounds, task=publisher
    )
    run.details["table_read"] = run.table_read.to_dict()
    run.details["partitions"] = outputs.num_rows
    run.read_count = int(pc.sum(outputs.column("rows_read")).as_py() or 0)
    run.written = int(pc.sum(outputs.column("written")).as_py() or 0)
    run.skipped = int(pc.sum(outputs.column("skipped")).as_py() or 0)
    empty = pa.table({})
    run.rows = _tables(outputs, "read_sample") if outputs.num_rows else None
    rejected = _tables(outputs, "rejected")
    if rejected is None:
        no_text = pa.array([], pa.string())
        rejected = pa.table({"__reason": no_text, "__rule": no_text})
    valid = _tables(outputs, "valid_sample") or empty
    latest = _tables(outputs, "latest_sample") or valid.slice(0, 0)
    keys = list(run.table.join_key_names)
    if latest.num_rows:
        latest = latest.take(pc.sort_indices(latest, [(k, "ascending") for k in keys]))
    run.latest = latest
    run.validation = ValidationResult(
        valid,
        rejected.drop_columns(["__reason", "__rule"]),
        rejected.column("__reason").combine_chunks(),
        rejected.column("__rule").combine_chunks(),
    )
    run.details["rejections"] = run.validation.rule_counts()
    total = run.written + run.skipped
    run.report_progress("publish", total, total)


DISTRIBUTED_SYNC_STEPS: tuple[Callable[[SyncRun], None], ...] = (
    publish_partitions,
    quarantine_rejects,
)
