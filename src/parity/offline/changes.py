"""Reading a view version's source rows for synchronization.

The sync controller asks for the rows of one view version whose event time lies in a
window and, for incremental runs, that were *written* after a watermark (the created
timestamp), so that rows arriving late with an old event time are still picked up. The
rows come back with canonical column names: the join keys, the features, then
``event_timestamp`` and, when the source has one, ``created_timestamp``.

Sources without a created timestamp cannot say when a row was written; an incremental
run over them reads the whole event window again. That is correct (online writes are
idempotent and never let an older value win), only slower.

Example:
    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> from datetime import UTC, datetime, timedelta
    >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
    >>> from parity.types import Float64, Int64
    >>> path, t0 = tempfile.mkdtemp() + "/s.parquet", datetime(2026, 1, 1, tzinfo=UTC)
    >>> pq.write_table(pa.table({"user_id": [1, 2], "spend": [9.5, 1.0], "ts": [t0, t0]}), path)
    >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("parquet", path, "ts"),
    ...     (JoinKey("user_id", Int64),), (FeatureColumn("spend", "spend", Float64),))
    >>> rows, read = read_source_rows(spec, start=t0, end=t0 + timedelta(days=1))
    >>> rows.column_names, read.format
    (['user_id', 'spend', 'event_timestamp'], 'parquet')
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from parity.offline.base import ViewReadSpec
from parity.offline.point_in_time import duckdb_type, quote
from parity.offline.source_scan import TableRead, open_source, register_source
from parity.types import require_utc

if TYPE_CHECKING:
    import pyarrow as pa

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"


def source_rows_query(spec: ViewReadSpec, relation: str, *, bounds: dict[str, Any]) -> str:
    """SELECT of the spec's columns under canonical names, filtered by the given bounds.

    ``bounds`` keys (each optional): ``start``, ``end`` (event time, ``[start, end)``),
    ``written_after``, ``written_before`` (created time, ``[after, before)``).
    """
    ts = quote(spec.source.timestamp_field)
    created = spec.source.created_timestamp_field
    columns = [f"{quote(k.source_column)} AS {quote(k.name)}" for k in spec.join_keys]
    columns += [f"{quote(f.source_column)} AS {quote(f.output_name)}" for f in spec.features]
    columns.append(f"{ts} AS {EVENT_TIMESTAMP}")
    if created is not None:
        columns.append(f"{quote(created)} AS {CREATED_TIMESTAMP}")
    where = []
    if "start" in bounds:
        where.append(f"{ts} >= $start")
    if "end" in bounds:
        where.append(f"{ts} < $end")
    if "written_after" in bounds and created is not None:
        where.append(f"{quote(created)} >= $written_after")
    if "written_before" in bounds and created is not None:
        where.append(f"{quote(created)} < $written_before")
    condition = " AND ".join(where) or "TRUE"
    return f"SELECT {', '.join(columns)} FROM {relation} WHERE {condition}"


def read_source_rows(
    spec: ViewReadSpec,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    written_after: datetime | None = None,
    written_before: datetime | None = None,
) -> tuple[pa.Table, TableRead]:
    """The rows to synchronize, and what was read (Delta version or Parquet files).

    Written-time bounds apply only when the source has a created timestamp column.
    """
    import duckdb

    if spec.aggregations:
        # Aggregation views publish each entity's aggregates at the sync instant.
        from parity.offline.aggregations import aggregates_at, sync_instant

        at, since = sync_instant(start, end, written_after, written_before)
        return aggregates_at(spec, at, active_since=since)
    scan = open_source(spec)
    bounds: dict[str, Any] = {}
    has_created = spec.source.created_timestamp_field is not None
    for name, value, applies in (
        ("start", start, True),
        ("end", end, True),
        ("written_after", written_after, has_created),
        ("written_before", written_before, has_created),
    ):
        if value is not None and applies:
            bounds[name] = require_utc(value, what=name)
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        register_source(conn, scan, "__parity_source")
        query = source_rows_query(spec, "__parity_source", bounds=bounds)
        table = conn.sql(query, params=bounds).to_arrow_table()
    return table, scan.table_read


def source_rows_of_entities(spec: ViewReadSpec, keys: pa.Table) -> pa.Table | None:
    """Every source row of the entities in ``keys`` (join key columns), whatever its time,
    with the source's own column names and types.

    A point-in-time read of a few entities over these rows equals the read over the whole
    source (the join matches keys exactly as this filter does), at a fraction of the cost.
    ``None`` when the filtered rows would not keep the source's exact column types: read
    the whole source then.

    Example:
        >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
        >>> from datetime import UTC, datetime
        >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
        >>> from parity.types import Float64, Int64
        >>> path, t0 = tempfile.mkdtemp() + "/s.parquet", datetime(2026, 1, 1, tzinfo=UTC)
        >>> pq.write_table(pa.table({"user_id": [1, 2], "spend": [9.5, 1.0], "ts": [t0, t0]}), path)
        >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("parquet", path, "ts"),
        ...     (JoinKey("user_id", Int64),), (FeatureColumn("spend", "spend", Float64),))
        >>> source_rows_of_entities(spec, pa.table({"user_id": [2]})).column("spend").to_pylist()
        [1.0]
    """
    import duckdb

    from parity.offline.aggregations import events_spec

    # Aggregation views: the rows are the raw events the aggregates are computed from.
    scan = open_source(events_spec(spec) if spec.aggregations else spec)
    on = " AND ".join(
        f"CAST(s.{quote(k.source_column)} AS {duckdb_type(k.dtype)}) = e.{quote(k.name)}"
        for k in spec.join_keys
    )
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        register_source(conn, scan, "__parity_source", fill=False)
        conn.register("__parity_entities", keys)
        table = conn.sql(
            f"SELECT s.* FROM __parity_source s SEMI JOIN __parity_entities e ON {on}"
        ).to_arrow_table()
    same = table.schema.names == scan.schema.names and all(
        a.type == b.type for a, b in zip(table.schema, scan.schema, strict=True)
    )
    return table if same else None
