"""Opening a view's source for reading: pinned files or Delta version, checked schema.

Opening a source fixes what a job reads: the list of Parquet files, or the Delta table
version (the latest unless the spec pins one). The Arrow schema is checked against the
spec before any data is read: columns exist, timestamps are timezone-aware, feature and
key types can be cast to the declared dtypes without loss.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from datetime import UTC, datetime
    >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec
    >>> from deltalake import write_deltalake
    >>> from parity.types import Float64, Int64
    >>> path, t0 = tempfile.mkdtemp() + "/user_stats", datetime(2026, 1, 1, tzinfo=UTC)
    >>> write_deltalake(path, pa.table({"user_id": [1], "ts": [t0], "spend": [9.5]}))
    >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("delta", path, "ts"),
    ...     (JoinKey("user_id", Int64),), (FeatureColumn("spend", "spend", Float64),))
    >>> scan = open_source(spec)
    >>> scan.table_read.table_version
    0
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parity.errors import SchemaMismatch, SourceUnreadable, did_you_mean
from parity.offline.base import ViewReadSpec
from parity.offline.entity_frame import check_timestamp_column, same_family
from parity.storage import ObjectStorage
from parity.types import DType

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from deltalake import DeltaTable


@dataclass(frozen=True)
class TableRead:
    """What one view read: Delta table version, or Parquet files (path, size, digest).

    Example:
        >>> TableRead(view="txns@v1", format="delta", path="/t", table_version=3).table_version
        3
    """

    view: str
    format: str
    path: str
    table_version: int | None = None
    files: tuple[tuple[str, int], ...] = ()
    # How to open ``files`` for their digests (local files when None).
    storage: ObjectStorage | None = field(default=None, compare=False, repr=False)

    def to_dict(self, *, with_digests: bool = False) -> dict[str, Any]:
        """Plain form for lineage records; ``with_digests`` adds a BLAKE2b of each file."""
        data: dict[str, Any] = {
            "view": self.view,
            "format": self.format,
            "path": self.path,
            "table_version": self.table_version,
        }
        if self.format == "parquet":
            data["files"] = [
                {
                    "path": p,
                    "size": size,
                    **({"blake2b": _digest(p, self.storage)} if with_digests else {}),
                }
                for p, size in self.files
            ]
        return data


@dataclass(frozen=True)
class SourceScan:
    """An opened source: its schema, what to scan, and what it read (for lineage).

    ``files``: Parquet files an engine may read directly (a Parquet source, or a Delta
    version whose files hold all its rows and columns as they are). ``dataset``: the Delta
    version as an Arrow dataset, always correct, for tables that need the Delta reader.
    """

    schema: pa.Schema
    table_read: TableRead
    files: tuple[str, ...] = ()
    dataset: Any = field(default=None, compare=False)
    absent: tuple[tuple[str, DType], ...] = ()

    def fill_absent(self, relation: str) -> str:
        """``relation`` with every absent nullable feature column added as typed nulls.

        A nullable feature added by a compatible change before the source has its column
        reads as null (as ``plan`` promised), on every path: syncs, training sets, checks.

        Example:
            >>> from parity.types import Float64
            >>> scan = SourceScan(schema=None, table_read=None, absent=(("x", Float64),))
            >>> scan.fill_absent("src")
            '(SELECT *, CAST(NULL AS DOUBLE) AS "x" FROM src)'
        """
        if not self.absent:
            return relation
        from parity.offline.point_in_time import duckdb_type, quote

        nulls = ", ".join(f"CAST(NULL AS {duckdb_type(t)}) AS {quote(c)}" for c, t in self.absent)
        return f"(SELECT *, {nulls} FROM {relation})"


def register_source(
    conn: duckdb.DuckDBPyConnection, scan: SourceScan, name: str, *, fill: bool = True
) -> None:
    """Make ``scan`` readable as the view ``name`` on ``conn``.

    Parquet files are read by column name (a file written before a nullable column was
    added reads it as null); with ``fill``, columns absent from every file are added as
    typed nulls (:meth:`SourceScan.fill_absent`).

    Example:
        >>> import duckdb  # doctest: +SKIP
        >>> register_source(duckdb.connect(), open_source(spec), "src")  # doctest: +SKIP
    """
    raw = f"{name}__raw" if fill and scan.absent else name
    if scan.dataset is not None:
        conn.register(raw, scan.dataset)
    else:
        # A TEMP view, private to this cursor: a relation's create_view lands in the shared
        # main schema, and two threads querying through cursors of one connection would
        # replace the same view at once ("Catalog write-write conflict").
        relation = conn.read_parquet(list(scan.files), union_by_name=len(scan.files) > 1)
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {raw} AS {relation.sql_query()}")
    if raw != name:
        conn.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {scan.fill_absent(raw)}")


def _digest(path: str, storage: ObjectStorage | None) -> str:
    h = hashlib.blake2b(digest_size=16)
    with (storage or ObjectStorage()).open_input(path) as handle:
        while chunk := handle.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


# Reader features that do not change what a plain Parquet read of the files returns.
_HARMLESS_READER_FEATURES = frozenset({"timestampNtz"})


def _plain_files(table: Any) -> bool:
    """True if reading the version's Parquet files directly gives exactly its rows.

    Not so with partition columns (values live in paths), deletion vectors (deleted rows
    are still in the files) or column mapping (physical names differ), or remote storage.
    """
    protocol = table.protocol()
    features = set(protocol.reader_features or ())
    return (
        not table.metadata().partition_columns
        and protocol.min_reader_version != 2
        and features <= _HARMLESS_READER_FEATURES
        and "://" not in table.table_uri.replace("file://", "")
        and bool(table.file_uris())
    )


def _no_table(spec: ViewReadSpec) -> SchemaMismatch:
    source = spec.source
    return SchemaMismatch(
        f"view {spec.ref}: no Delta table at {source.path!r}"
        + (f" (version {source.table_version})" if source.table_version is not None else "")
        + ". Check the source path, or write rows first with engine.append(spec, rows)."
    )


def _latest_version(path: str, options: dict[str, str] | None) -> int | str:
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    try:
        return int(DeltaTable(path, storage_options=options).version())
    except DeltaError:
        return "(unreadable)"


def _parquet_files(path: str, storage: ObjectStorage) -> tuple[tuple[str, int], ...]:
    files = storage.parquet_files(path)
    if files:
        return files
    raise SchemaMismatch(
        f"Parquet source {path!r} does not exist or holds no .parquet files. Check the "
        "source path (relative paths resolve against the feature repository root)."
    )


def read_delta(path: str, *, version: int | None = None, what: str = "") -> DeltaTable:
    """The Delta table at ``path``; ``SourceUnreadable`` when its log is damaged (a commit
    file missing or corrupt), instead of the Delta kernel's own error.

    Example:
        >>> read_delta("data/no_such_table")  # doctest: +SKIP
        Traceback (most recent call last):
        deltalake.exceptions.TableNotFoundError: ...
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        return DeltaTable(path, version=version)
    except TableNotFoundError:
        raise
    except (DeltaError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceUnreadable(
            f"{what or 'Delta table'} at {path!r} cannot be read: {first}. Its _delta_log is "
            "damaged (a commit file missing or corrupt): restore it from a backup, or "
            "rebuild the table; nothing was written."
        ) from exc


def open_source(spec: ViewReadSpec) -> SourceScan:
    """Open and check the source of ``spec``.

    Example:
        >>> import tempfile, pyarrow as pa
        >>> from datetime import UTC, datetime
        >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec
        >>> import pyarrow.parquet as pq
        >>> from parity.types import Float64, Int64
        >>> path, t0 = tempfile.mkdtemp() + "/s.parquet", datetime(2026, 1, 1, tzinfo=UTC)
        >>> pq.write_table(pa.table({"user_id": [1], "ts": [t0], "spend": [9.5]}), path)
        >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("parquet", path, "ts"),
        ...     (JoinKey("user_id", Int64),), (FeatureColumn("spend", "spend", Float64),))
        >>> open_source(spec).schema.names
        ['user_id', 'ts', 'spend']
    """
    source = spec.source
    if source.format == "delta":
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError

        options = source.storage.delta_options(source.path)
        try:
            table = DeltaTable(source.path, version=source.table_version, storage_options=options)
        except DeltaError as exc:
            if isinstance(exc, TableNotFoundError):
                source.storage.check_bucket(source.path)
                raise _no_table(spec) from exc
            if source.table_version is None:
                raise
            latest = _latest_version(source.path, options)
            raise SchemaMismatch(
                f"view {spec.ref}: the Delta table at {source.path!r} has no version "
                f"{source.table_version} (table_version); its versions go up to {latest}. Pin "
                "an existing version, or check the saved dataset's lineage (vacuumed logs "
                "cannot be read)."
            ) from exc
        except OSError as exc:
            raise source.storage.explain(exc, source.path, setting="source path") from exc
        dataset = table.to_pyarrow_dataset()
        read = TableRead(
            view=spec.ref, format="delta", path=source.path, table_version=table.version()
        )
        files = tuple(table.file_uris()) if _plain_files(table) else ()
        missing = set(check_source_schema(spec, dataset.schema))
        absent = tuple(
            (f.source_column, f.dtype) for f in spec.features if f.source_column in missing
        )
        return SourceScan(
            schema=dataset.schema, table_read=read, files=files, dataset=dataset, absent=absent
        )
    else:
        sized = _parquet_files(source.path, source.storage)
        files = tuple(f for f, _ in sized)
        read = TableRead(
            view=spec.ref, format="parquet", path=source.path, files=sized, storage=source.storage
        )
        # Every file's footer is checked (not its data): a later file with naive times or
        # lossy types would otherwise be read under the first file's schema.
        schemas = [source.storage.parquet_schema(f) for f in files]
        absent_in = [
            set(check_source_schema(spec, schema, where=f"file {path}"))
            for path, schema in zip(files, schemas, strict=True)
        ]
        everywhere = set.intersection(*absent_in)
        absent = tuple(
            (f.source_column, f.dtype) for f in spec.features if f.source_column in everywhere
        )
        if source.storage.is_remote(source.path):
            # DuckDB scans the Arrow dataset (no httpfs extension to download), read by
            # column name across files like read_parquet(union_by_name) does locally.
            import pyarrow as pa

            unified = pa.unify_schemas(schemas, promote_options="permissive")
            dataset = source.storage.parquet_dataset(files, schema=unified)
            return SourceScan(schema=schemas[0], table_read=read, dataset=dataset, absent=absent)
        return SourceScan(schema=schemas[0], table_read=read, files=files, absent=absent)


def check_source_schema(
    spec: ViewReadSpec, schema: pa.Schema, *, where: str | None = None
) -> tuple[str, ...]:
    """Raise if the source schema cannot serve ``spec`` (missing column, naive time, type);
    return the nullable feature columns it lacks (they read as null).

    ``where`` names the file checked, for a source of several files.

    Example:
        >>> import pyarrow as pa
        >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
        >>> from parity.types import Float64, Int64
        >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("delta", "data/user_stats", "ts"),
        ...                     (JoinKey("user_id", Int64),),
        ...                     (FeatureColumn("spend", "spend", Float64),))
        >>> check_source_schema(spec, pa.schema([("user_id", pa.int64())]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        parity.errors.SchemaMismatch: source of view user_stats@v1 ... no timestamp column 'ts'...
    """
    where = f"source of view {spec.ref} ({where or spec.source.path})"
    fix = (
        "Write event and created timestamps as UTC-aware values, e.g. "
        "df[col] = pd.to_datetime(df[col], utc=True) before writing the file."
    )
    check_timestamp_column(schema, spec.source.timestamp_field, where=where, fix=fix)
    if spec.source.created_timestamp_field is not None:
        check_timestamp_column(schema, spec.source.created_timestamp_field, where=where, fix=fix)
    wanted = [(k.source_column, k.dtype, f"join key {k.name!r}", False) for k in spec.join_keys] + [
        (f.source_column, f.dtype, f"feature {f.output_name!r}", f.nullable) for f in spec.features
    ]
    absent: list[str] = []
    for column, dtype, role, nullable in wanted:
        if column not in schema.names and nullable:
            absent.append(column)
            continue
        if column not in schema.names:
            raise SchemaMismatch(
                f"{where} has no column {column!r} for {role}.{did_you_mean(column, schema.names)}"
                f" Columns: {', '.join(schema.names)}. Fix the view's schema or field_mapping, "
                "or declare the feature nullable=True to read it as null until the source "
                "has it."
            )
        arrow_type = schema.field(column).type
        if not castable(arrow_type, dtype):
            raise SchemaMismatch(
                f"{where} column {column!r} ({role}) has type {arrow_type}, which cannot be "
                f"read as {dtype.name} without loss. Change the declared dtype or rewrite the "
                "column."
            )
    return tuple(absent)


def castable(arrow_type: pa.DataType, dtype: DType) -> bool:
    """True if values of ``arrow_type`` can be read as ``dtype`` without loss.

    Example:
        >>> import pyarrow as pa
        >>> from parity.types import Int64, String
        >>> castable(pa.int32(), Int64), castable(pa.int64(), String)
        (True, False)
    """
    import pyarrow as pa

    target = dtype.to_arrow()
    if arrow_type == target:
        return True
    if dtype.is_integer:
        return bool(pa.types.is_integer(arrow_type)) and arrow_type.bit_width <= target.bit_width
    if dtype.kind in ("float32", "float64"):
        return bool(
            (pa.types.is_floating(arrow_type) and arrow_type.bit_width <= target.bit_width)
            or (pa.types.is_integer(arrow_type) and arrow_type.bit_width < target.bit_width)
        )
    if dtype.kind in ("string", "bytes", "timestamp", "bool"):
        return same_family(arrow_type, dtype)
    if dtype.kind in ("list", "vector"):
        return bool(pa.types.is_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)) or (
            pa.types.is_large_list(arrow_type)
        )
    return False
