"""Writes into parity-managed Delta tables: append, backfill, quarantine.

Rows are validated column-wise with Arrow compute (no Python loop over rows) before
anything is written:

- schema: every join key, timestamp and feature column is present, no unknown column,
  types castable to the declared dtypes, timestamps timezone-aware;
- per row: join keys and the event timestamp are not null; for a backfill the event
  timestamp lies in ``[start, end)``.

``append`` writes the valid rows and quarantines the others. ``backfill`` is all or
nothing: one invalid row quarantines the rejected rows and raises, and the table is left
as it was; otherwise the range is replaced in one Delta commit (readers see the old or the
new rows, never a mix). Quarantined rows land in ``<offline path>/quarantine/<view>/``, a
Delta table with the row as JSON and a ``reason`` column.

Idempotent writes (pushes) use Delta application transactions: :func:`append_once` commits
the rows and ``{app_id: version}`` records in one Delta commit, so after any crash either
both are in the table or neither is; :func:`committed_versions` reads the records back and
``quarantine(..., transactions=...)`` skips a quarantine already recorded.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from datetime import datetime, timezone
    >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec
    >>> from parity.types import Float64, Int64
    >>> root, t = Path(tempfile.mkdtemp()), datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("delta", str(root / "stats"), "ts"),
    ...                     (JoinKey("user_id", Int64),), (FeatureColumn("spend", "x", Float64),))
    >>> rows = pa.table({"user_id": [1, None], "ts": [t, t], "spend": [2.0, 3.0]})
    >>> report = append_rows(spec, rows, quarantine_root=root / "q")
    >>> report.rows_written, report.rows_quarantined
    (1, 1)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import NaiveTimestampError, SchemaMismatch
from parity.offline.base import ViewReadSpec
from parity.offline.entity_frame import frame_to_arrow
from parity.offline.source_scan import castable, read_delta
from parity.offline.writes import RowsInput, WriteReport
from parity.types import require_utc

# Commit metadata key of a backfill: {"start": iso, "end": iso}, the replaced event range.
BACKFILL_METADATA = "parity.backfill"

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable


def table_schema(spec: ViewReadSpec) -> pa.Schema:
    """The canonical Arrow schema of a view's managed Delta table.

    Example:
        >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
        >>> from parity.types import Float64, Int64
        >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("delta", "data/user_stats", "ts"),
        ...                     (JoinKey("user_id", Int64),),
        ...                     (FeatureColumn("spend", "spend", Float64),))
        >>> table_schema(spec).names
        ['user_id', 'ts', 'spend']
    """
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    fields = [pa.field(k.source_column, k.dtype.to_arrow()) for k in spec.join_keys]
    fields.append(pa.field(spec.source.timestamp_field, ts))
    if spec.source.created_timestamp_field is not None:
        fields.append(pa.field(spec.source.created_timestamp_field, ts))
    fields += [pa.field(f.source_column, f.dtype.to_arrow()) for f in spec.features]
    if spec.source.op_field is not None:
        fields.append(pa.field(spec.source.op_field, pa.string()))
    return pa.schema(fields)


def _schema_problem(spec: ViewReadSpec, table: pa.Table, target: pa.Schema) -> str | None:
    import pyarrow as pa

    declared = {k.source_column: k.dtype for k in spec.join_keys}
    declared.update({f.source_column: f.dtype for f in spec.features})
    missing = [n for n in target.names if n not in table.column_names]
    if missing:
        return f"missing column(s) {missing}; view {spec.ref} needs {target.names}"
    extra = [n for n in table.column_names if n not in target.names]
    if extra:
        return f"unknown column(s) {extra}; view {spec.ref} stores only {target.names}"
    for field in target:
        actual = table.schema.field(field.name).type
        if pa.types.is_timestamp(field.type):
            if not pa.types.is_timestamp(actual):
                return f"column {field.name!r} has type {actual}, expected a UTC timestamp"
            if actual.tz is None:
                return f"column {field.name!r} is a naive timestamp ({actual}); make it UTC-aware"
            continue
        dtype = declared[field.name]
        if not castable(actual, dtype):
            return f"column {field.name!r} has type {actual}, expected {dtype.name}"
    return None


def _row_reasons(
    spec: ViewReadSpec, table: pa.Table, start: datetime | None, end: datetime | None
) -> pa.Array:
    """One reason per row (null when the row is valid), computed column-wise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    reason = pa.nulls(table.num_rows, pa.string())
    ts_name = spec.source.timestamp_field
    ts = table.column(ts_name)
    checks: list[tuple[Any, str]] = []
    if end is not None:
        checks.append((pc.greater_equal(ts, pa.scalar(end, ts.type)), f"{ts_name} >= end {end}"))
    if start is not None:
        checks.append((pc.less(ts, pa.scalar(start, ts.type)), f"{ts_name} < start {start}"))
    checks.append((pc.is_null(ts), f"{ts_name} is null"))
    for key in spec.join_keys:
        checks.append((pc.is_null(table.column(key.source_column)), f"join key {key.name} is null"))
    # Later checks win, so the most basic problem (null key) is the one reported.
    for mask, text in checks:
        reason = pc.if_else(pc.fill_null(mask, False), pa.scalar(text), reason)
    return reason


def quarantine(
    spec: ViewReadSpec,
    rows: pa.Table,
    reasons: pa.Array,
    *,
    operation: str,
    root: Path,
    transactions: Mapping[str, int] | None = None,
) -> Path:
    """Append rejected rows (as JSON) with their reason to the view's quarantine table.

    With ``transactions`` the rows are written at most once: nothing is written when the
    first application id is already recorded in the quarantine table (a retried push).

    Example:
        >>> quarantine(spec, bad, reasons, operation="append", root=Path("q"))  # doctest: +SKIP
        PosixPath('q/user_stats')
    """
    import polars as pl
    import pyarrow as pa
    from deltalake import write_deltalake

    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    as_json = frame.select(pl.struct(pl.all()).struct.json_encode().alias("row"))
    n = rows.num_rows
    record = pa.table(
        {
            "view": pa.array([spec.name] * n, pa.string()),
            "view_version": pa.array([spec.version] * n, pa.int64()),
            "operation": pa.array([operation] * n, pa.string()),
            "reason": reasons.cast(pa.string()),
            "row": as_json.to_arrow().column("row").cast(pa.string()),
            "quarantined_at": pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC")),
        }
    )
    path = root / spec.name
    path.mkdir(parents=True, exist_ok=True)
    if transactions:
        append_once(str(path), record, transactions=transactions)
    else:
        write_deltalake(str(path), record, mode="append")
    return path


def _ensure_folder(path: str) -> None:
    # Object stores have no folders; a local table needs its folder before the first write.
    if "://" not in path:
        Path(path).mkdir(parents=True, exist_ok=True)


def open_delta(path: str, *, options: Mapping[str, str] | None = None) -> DeltaTable | None:
    """The Delta table at ``path`` (its latest snapshot), or None if there is none yet.

    ``options`` are deltalake's ``storage_options`` (``ObjectStorage.delta_options``).

    Example:
        >>> open_delta("data/no_such_table") is None
        True
    """
    from deltalake import DeltaTable

    opts = None if options is None else dict(options)
    if not DeltaTable.is_deltatable(path, storage_options=opts):
        return None
    return read_delta(path) if opts is None else DeltaTable(path, storage_options=opts)


def committed_versions(
    table: str | DeltaTable | None,
    app_ids: Sequence[str],
    *,
    options: Mapping[str, str] | None = None,
) -> dict[str, int | None]:
    """The version each application id recorded in a Delta table (a path or an open one).

    Example:
        >>> import tempfile, pyarrow as pa
        >>> path = tempfile.mkdtemp() + "/txn_events"
        >>> append_once(path, pa.table({"amount": [12.5]}), transactions={"parity.push/p1": 1})
        0
        >>> committed_versions(path, ["parity.push/p1", "parity.push/p2"])
        {'parity.push/p1': 1, 'parity.push/p2': None}
    """
    opened = open_delta(table, options=options) if isinstance(table, str) else table
    if opened is None:
        return dict.fromkeys(app_ids)
    return {app_id: opened.transaction_version(app_id) for app_id in app_ids}


def append_once(
    path: str,
    rows: pa.Table,
    *,
    transactions: Mapping[str, int],
    metadata: Mapping[str, str] | None = None,
    table: DeltaTable | None = None,
    options: Mapping[str, str] | None = None,
) -> int | None:
    """Append ``rows`` and record ``transactions`` in one Delta commit, at most once.

    The first application id decides: if the table already records it, nothing is written
    and None is returned; otherwise the new table version. A concurrent writer that commits
    the same id first makes this commit fail in Delta's conflict check; that too returns
    None. ``metadata`` goes into the commit's info (``DeltaTable.history()``). ``table``,
    an open snapshot of ``path``, saves reloading the log (commits still check conflicts
    with everything committed since that snapshot).

    Example:
        >>> import tempfile, pyarrow as pa
        >>> path, rows = tempfile.mkdtemp() + "/t", pa.table({"amount": [12.5]})
        >>> append_once(path, rows, transactions={"parity.push/p1": 1})
        0
        >>> append_once(path, rows, transactions={"parity.push/p1": 1}) is None
        True
    """
    from deltalake import CommitProperties, Transaction, write_deltalake
    from deltalake.exceptions import CommitFailedError

    first = next(iter(transactions))
    opts = None if options is None else dict(options)
    if table is None:
        _ensure_folder(path)
        table = open_delta(path, options=opts)
    if committed_versions(table, [first])[first] is not None:
        return None
    properties = CommitProperties(
        custom_metadata=dict(metadata or {}),
        app_transactions=[Transaction(app_id, v) for app_id, v in transactions.items()],
    )
    try:
        write_deltalake(
            path if table is None else table,
            rows,
            mode="append",
            commit_properties=properties,
            storage_options=opts if table is None else None,
        )
    except CommitFailedError:
        if committed_versions(path, [first], options=opts)[first] is not None:
            return None  # a concurrent writer committed the same transaction first
        raise
    if table is None:
        from deltalake import DeltaTable

        table = DeltaTable(path, storage_options=opts)
    return table.version()


def commit_with_metadata(
    path: str,
    key: str,
    value: str,
    *,
    within: int = 200,
    options: Mapping[str, str] | None = None,
) -> int | None:
    """The version of the newest of the last ``within`` commits whose info has ``key=value``.

    Example:
        >>> import tempfile, pyarrow as pa
        >>> path = tempfile.mkdtemp() + "/t"
        >>> append_once(path, pa.table({"amount": [12.5]}), transactions={"parity.push/p1": 1},
        ...             metadata={"parity.push_id": "p1"})
        0
        >>> commit_with_metadata(path, "parity.push_id", "p1")
        0
    """
    from deltalake import DeltaTable

    opts = None if options is None else dict(options)
    if not DeltaTable.is_deltatable(path, storage_options=opts):
        return None
    for commit in DeltaTable(path, storage_options=opts).history(within):
        if commit.get(key) == value:
            version = commit.get("version")
            return None if version is None else int(version)
    return None


def _prepare(
    spec: ViewReadSpec,
    rows: RowsInput,
    *,
    operation: str,
    quarantine_root: Path,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[pa.Table, pa.Table, pa.Array, Path | None]:
    """Validate ``rows``: (valid rows cast to the table schema, rejected rows, reasons)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if spec.source.format != "delta":
        raise SchemaMismatch(
            f"view {spec.ref} reads Parquet at {spec.source.path!r}; parity writes only to "
            "Delta tables. Declare the source as DeltaSource(...) to append or backfill."
        )
    table = frame_to_arrow(rows)
    target = table_schema(spec)
    problem = _schema_problem(spec, table, target)
    if problem is not None:
        reasons = pa.array([problem] * table.num_rows, pa.string())
        where = quarantine(spec, table, reasons, operation=operation, root=quarantine_root)
        error = NaiveTimestampError if "naive timestamp" in problem else SchemaMismatch
        raise error(
            f"{operation} to view {spec.ref} rejected all {table.num_rows} rows: {problem}. "
            f"Nothing was written; the rows are in quarantine at {str(where)!r}. Fix the "
            "frame and write again."
        )
    table = table.select(target.names)
    try:
        table = table.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaMismatch(
            f"{operation} to view {spec.ref}: values do not fit the declared types ({exc}). "
            "Nothing was written; cast the columns to the view's dtypes."
        ) from exc
    reasons = _row_reasons(spec, table, start, end)
    bad = pc.is_valid(reasons)
    rejected = table.filter(bad)
    quarantined_at: Path | None = None
    if rejected.num_rows:
        quarantined_at = quarantine(
            spec, rejected, reasons.filter(bad), operation=operation, root=quarantine_root
        )
    return table.filter(pc.invert(bad)), rejected, reasons.filter(bad), quarantined_at


def append_rows(spec: ViewReadSpec, rows: RowsInput, *, quarantine_root: Path) -> WriteReport:
    """Append the valid rows to the view's Delta table; quarantine the rest.

    Example:
        >>> import tempfile, pyarrow as pa
        >>> from datetime import datetime, timezone
        >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec
        >>> from parity.types import Float64, Int64
        >>> root, t = Path(tempfile.mkdtemp()), datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("delta", str(root / "stats"), "ts"),
        ...                     (JoinKey("user_id", Int64),),
        ...                     (FeatureColumn("spend", "x", Float64),))
        >>> rows = pa.table({"user_id": [1, None], "ts": [t, t], "spend": [2.0, 3.0]})
        >>> append_rows(spec, rows, quarantine_root=root / "q").operation
        'append'
    """
    from deltalake import DeltaTable, write_deltalake

    valid, rejected, _, where = _prepare(
        spec, rows, operation="append", quarantine_root=quarantine_root
    )
    opts = spec.source.storage.delta_options(spec.source.path)
    _ensure_folder(spec.source.path)
    if valid.num_rows:
        write_deltalake(spec.source.path, valid, mode="append", storage_options=opts)
    version = (
        DeltaTable(spec.source.path, storage_options=opts).version()
        if valid.num_rows
        else _version(spec)
    )
    return WriteReport(
        operation="append",
        table_path=spec.source.path,
        table_version=version,
        rows_written=valid.num_rows,
        rows_quarantined=rejected.num_rows,
        quarantine_path=None if where is None else str(where),
    )


def _version(spec: ViewReadSpec) -> int | None:
    from deltalake import DeltaTable

    opts = spec.source.storage.delta_options(spec.source.path)
    return (
        DeltaTable(spec.source.path, storage_options=opts).version()
        if DeltaTable.is_deltatable(spec.source.path, storage_options=opts)
        else None
    )


def backfill_rows(
    spec: ViewReadSpec,
    rows: RowsInput,
    *,
    start: datetime,
    end: datetime,
    quarantine_root: Path,
) -> WriteReport:
    """Replace ``[start, end)`` of the view's Delta table with ``rows`` in one commit.

    Example:
        >>> backfill_rows(spec, rows, start=a, end=b, quarantine_root=Path("q"))  # doctest: +SKIP
    """
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    start = require_utc(start, what="backfill start")
    end = require_utc(end, what="backfill end")
    if start >= end:
        raise SchemaMismatch(
            f"backfill of view {spec.ref}: start {start.isoformat()} is not before end "
            f"{end.isoformat()}. The range is [start, end); pass start < end."
        )
    valid, rejected, reasons, where = _prepare(
        spec, rows, operation="backfill", quarantine_root=quarantine_root, start=start, end=end
    )
    if rejected.num_rows:
        first = reasons[0].as_py()
        raise SchemaMismatch(
            f"backfill of view {spec.ref} over [{start.isoformat()}, {end.isoformat()}) "
            f"rejected {rejected.num_rows} of {rejected.num_rows + valid.num_rows} rows "
            f"(first reason: {first}). Nothing was changed; the rejected rows are in "
            f"quarantine at {str(where)!r}. Fix them and run the backfill again."
        )
    path = spec.source.path
    opts = spec.source.storage.delta_options(path)
    _ensure_folder(path)
    if not DeltaTable.is_deltatable(path, storage_options=opts):
        write_deltalake(path, valid, mode="append", storage_options=opts)
    else:
        # The predicate is built from a validated column name and two UTC datetimes
        # (never caller text); delta-rs has no bound parameters for predicates.
        column = spec.source.timestamp_field
        predicate = (
            f"{column} >= '{start.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}' AND "
            f"{column} < '{end.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
        )
        # The range rides in the commit itself, so a sync can find the rows a backfill
        # removed (at the version before) and retract them online: no side file to lose.
        range_json = json.dumps({"start": start.isoformat(), "end": end.isoformat()})
        write_deltalake(
            path,
            valid,
            mode="overwrite",
            predicate=predicate,
            commit_properties=CommitProperties(custom_metadata={BACKFILL_METADATA: range_json}),
            storage_options=opts,
        )
    return WriteReport(
        operation="backfill",
        table_path=path,
        table_version=DeltaTable(path, storage_options=opts).version(),
        rows_written=valid.num_rows,
        rows_quarantined=0,
    )
