"""DuckDB offline engine: the embedded default.

Point-in-time joins run as one DuckDB query of ASOF joins (see
:mod:`parity.offline.point_in_time` for the semantics of ``point_in_time="event"`` and
``"available"``) over Parquet files and Delta tables, and stream out as Arrow record
batches. ``memory_limit`` and ``temp_directory`` bound memory: joins larger than RAM spill.

Example:
    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> from datetime import datetime, timezone
    >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec
    >>> from parity.types import Float64, Int64
    >>> repo, t = tempfile.mkdtemp(), datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> pq.write_table(pa.table({"user_id": [1], "spend": [9.5], "ts": [t]}), f"{repo}/s.parquet")
    >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("parquet", f"{repo}/s.parquet", "ts"),
    ...                     (JoinKey("user_id", Int64),), (FeatureColumn("spend", "x", Float64),))
    >>> engine = DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=repo)
    >>> entity_df = pa.table({"user_id": [1, 2], "event_timestamp": [t, t]})
    >>> engine.get_historical_features(entity_df, [spec]).to_arrow().column("x").to_pylist()
    [9.5, None]
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parity.errors import ChangeRefused, DefinitionError, did_you_mean
from parity.offline.aggregations import events_spec, prepare_aggregation_join
from parity.offline.base import (
    POINT_IN_TIME_MODES,
    EntityInput,
    OfflineEngine,
    PointInTime,
    RetrievalJob,
    ViewReadSpec,
)
from parity.offline.delta_writes import append_rows, backfill_rows
from parity.offline.entity_frame import (
    ROW_COLUMN,
    check_entity_schema,
    entity_kind,
    frame_to_arrow,
    number_rows,
)
from parity.offline.point_in_time import (
    ENTITY_RELATION,
    SourceRelation,
    point_in_time_query,
    quote,
    ttl_params,
)
from parity.offline.saved_dataset import (
    DATA_FILE,
    ENTITIES_FILE,
    LINEAGE_FILE,
    Lineage,
    SavedDataset,
    check_dataset_name,
    datasets_root,
    load_saved_dataset,
)
from parity.offline.source_scan import SourceScan, open_source, register_source
from parity.offline.writes import RowsInput, WriteReport
from parity.storage import StorageLayout

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


class DuckDBOfflineConfig(BaseModel):
    """``offline_store: {type: duckdb, path: data/offline}``.

    Saved datasets and quarantine tables live under ``path``.

    ``memory_limit`` (e.g. ``"4GB"``) and ``temp_directory`` let joins larger than RAM
    spill to disk; ``batch_rows`` is the size of the Arrow batches results stream in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["duckdb"] = "duckdb"
    path: str = "data/offline"
    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None
    batch_rows: int = Field(default=65_536, gt=0)


def _parquet_relation(index: int, files: Sequence[str]) -> SourceRelation:
    """Parquet files read with row numbers, so the join can fetch features late."""
    if len(files) == 1:
        return SourceRelation(
            f"read_parquet($files_{index}, file_row_number = true)", row_id=("file_row_number",)
        )
    # union_by_name: files written before a nullable column was added read it as null.
    return SourceRelation(
        f"read_parquet($files_{index}, file_row_number = true, filename = true, "
        "union_by_name = true)",
        row_id=("filename", "file_row_number"),
    )


class DuckDBRetrievalJob(RetrievalJob):
    """A prepared point-in-time join on its own DuckDB cursor; each ``to_*`` runs it.

    Example:
        >>> job.to_batches().read_next_batch().num_rows  # doctest: +SKIP
        65536
    """

    def __init__(
        self,
        engine: DuckDBOfflineEngine,
        cursor: duckdb.DuckDBPyConnection,
        *,
        sql: str,
        params: dict[str, Any],
        specs: Sequence[ViewReadSpec],
        scans: Sequence[SourceScan],
        point_in_time: PointInTime,
        timestamp_column: str,
    ) -> None:
        self._engine = engine
        self._cursor = cursor
        self._sql = sql
        self._params = params
        self.specs = tuple(specs)
        self.scans = tuple(scans)
        self.point_in_time = point_in_time
        self.timestamp_column = timestamp_column

    @property
    def table_versions(self) -> dict[str, int | None]:
        """The Delta table version each view read (None for Parquet sources)."""
        return {s.table_read.view: s.table_read.table_version for s in self.scans}

    def to_batches(self) -> pa.RecordBatchReader:
        """Stream the result in Arrow batches of ``batch_rows`` rows, in entity-row order."""
        relation = self._cursor.sql(self._sql, params=self._params)
        assert relation is not None
        return self.finish(relation.to_arrow_reader(self._engine.config.batch_rows))

    def entity_fingerprint(self) -> str:
        """An order-sensitive content hash of the entity frame (rows, columns, values)."""
        ((rows, digest),) = self._cursor.execute(
            f"SELECT count(*), sum(hash(t)) FROM {ENTITY_RELATION} t"
        ).fetchall()
        return f"duckdb-hash:rows={rows}:sum={digest or 0}"

    def _entities(self) -> pa.RecordBatchReader:
        relation = self._cursor.sql(
            f"SELECT * EXCLUDE ({quote(ROW_COLUMN)}) FROM {ENTITY_RELATION} "
            f"ORDER BY {quote(ROW_COLUMN)}"
        )
        assert relation is not None
        return relation.to_arrow_reader(self._engine.config.batch_rows)

    def save(self, name: str) -> SavedDataset:
        """Write the frame, its entity frame and ``lineage.json`` under ``datasets/<name>/``.

        Example:
            >>> job.save("churn_train").lineage.row_count  # doctest: +SKIP
            1000
        """
        import pyarrow.parquet as pq

        root = datasets_root(self._engine.offline_path)
        target = root / check_dataset_name(name)
        if target.exists():
            raise ChangeRefused(
                f"Saved dataset {name!r} already exists at {str(target)!r}; saved datasets are "
                "immutable. Choose another name, or delete the folder first."
            )
        staging = root / f".staging-{name}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            self.to_parquet(staging / DATA_FILE)
            reader = self._entities()
            with pq.ParquetWriter(staging / ENTITIES_FILE, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
            lineage = Lineage(
                name=name,
                views=tuple((s.name, s.version) for s in self.specs),
                specs=tuple(s.to_dict() for s in self.specs),
                entity_fingerprint=self.entity_fingerprint(),
                reads=tuple(scan.table_read.to_dict(with_digests=True) for scan in self.scans),
                row_count=pq.ParquetFile(staging / DATA_FILE).metadata.num_rows,
                point_in_time=self.point_in_time,
                timestamp_column=self.timestamp_column,
                created_at=datetime.now(UTC).isoformat(),
                transforms=None if self.output_step is None else self.output_step.lineage(),
            )
            (staging / LINEAGE_FILE).write_text(json.dumps(lineage.to_dict(), indent=2))
            # A rename is atomic: readers see the whole dataset or none of it.
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return SavedDataset(name=name, path=target, lineage=lineage)


class DuckDBOfflineEngine(OfflineEngine):
    """The embedded offline engine: DuckDB over Parquet files and Delta tables.

    Example:
        >>> engine = DuckDBOfflineEngine(DuckDBOfflineConfig(path="offline"), repo_root="/repo")
        >>> engine.offline_path.as_posix()
        '/repo/offline'
    """

    def __init__(self, config: DuckDBOfflineConfig, *, repo_root: str | Path) -> None:
        self.config = config
        self.repo_root = Path(repo_root)
        self._storage = StorageLayout.resolve(self.repo_root, offline_path=config.path)
        self._connection: duckdb.DuckDBPyConnection | None = None

    @property
    def storage(self) -> StorageLayout:
        """Where this engine keeps managed tables, quarantine and saved datasets."""
        return self._storage

    @property
    def offline_path(self) -> Path:
        """The offline root (``storage.offline_root``)."""
        return self._storage.offline_root

    def _connect(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        if self._connection is None:
            settings: dict[str, Any] = {}
            if self.config.memory_limit is not None:
                settings["memory_limit"] = self.config.memory_limit
            if self.config.temp_directory is not None:
                settings["temp_directory"] = str(self.repo_root / self.config.temp_directory)
            if self.config.threads is not None:
                settings["threads"] = self.config.threads
            self._connection = duckdb.connect(":memory:", config=settings)
        cursor = self._connection.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor

    def close(self) -> None:
        """Close the DuckDB database; running jobs become invalid."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _load_entities(
        self, cursor: duckdb.DuckDBPyConnection, entity_df: EntityInput
    ) -> pa.Schema:
        kind = entity_kind(entity_df)
        if kind == "sql":
            assert isinstance(entity_df, str)
            # The query is the caller's own SQL over this store, run as written.
            cursor.execute(f"CREATE TEMP TABLE __parity_entities_raw AS {entity_df}")
            cursor.execute(
                f"CREATE TEMP VIEW {ENTITY_RELATION} AS "
                f"SELECT *, rowid AS {quote(ROW_COLUMN)} FROM __parity_entities_raw"
            )
            relation = cursor.sql(f"SELECT * FROM {ENTITY_RELATION} LIMIT 0")
            assert relation is not None
            return relation.to_arrow_table().schema
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(str(entity_df))
        else:
            table = frame_to_arrow(entity_df)
        table = number_rows(table)
        cursor.register(ENTITY_RELATION, table)
        return table.schema

    def get_historical_features(
        self,
        entity_df: EntityInput,
        specs: Sequence[ViewReadSpec],
        *,
        point_in_time: PointInTime = "event",
        timestamp_column: str = "event_timestamp",
    ) -> DuckDBRetrievalJob:
        """Join the features of ``specs`` onto ``entity_df`` as of each row's timestamp.

        ``entity_df``: a pandas, Arrow or Polars frame, a Parquet path, or a SQL query
        (run in this engine, where each spec's source is readable under the view name).

        Example:
            >>> job = engine.get_historical_features(  # doctest: +SKIP
            ...     df, [spec], point_in_time="available")
        """
        if point_in_time not in POINT_IN_TIME_MODES:
            raise DefinitionError(
                f"point_in_time={point_in_time!r} is not a mode."
                f"{did_you_mean(str(point_in_time), POINT_IN_TIME_MODES)} "
                "Use 'event' or 'available'."
            )
        specs = tuple(specs)
        if any(spec.aggregations for spec in specs):
            return self._aggregation_retrieval(
                entity_df, specs, point_in_time=point_in_time, timestamp_column=timestamp_column
            )
        names = [s.name for s in specs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DefinitionError(
                f"views {repeated} are listed more than once; list each view once and select "
                "all its features in one ViewReadSpec."
            )
        scans = [open_source(spec) for spec in specs]
        cursor = self._connect()
        sources = []
        params = ttl_params(specs)
        for index, (spec, scan) in enumerate(zip(specs, scans, strict=True)):
            name = f"__parity_src_{index}"
            register_source(cursor, scan, name)
            if scan.files:
                relation = _parquet_relation(index, scan.files)
                sources.append(replace(relation, sql=scan.fill_absent(relation.sql)))
                params[f"files_{index}"] = list(scan.files)
            else:
                sources.append(SourceRelation(name))
            # Entity queries (SQL) can read each view's source under the view's name.
            cursor.execute(f"CREATE TEMP VIEW {quote(spec.name)} AS SELECT * FROM {name}")
        schema = self._load_entities(cursor, entity_df)
        check_entity_schema(schema, specs, timestamp_column=timestamp_column)
        sql = point_in_time_query(
            schema.names,
            specs,
            sources=sources,
            mode=point_in_time,
            timestamp_column=timestamp_column,
        )
        return DuckDBRetrievalJob(
            self,
            cursor,
            sql=sql,
            params=params,
            specs=specs,
            scans=scans,
            point_in_time=point_in_time,
            timestamp_column=timestamp_column,
        )

    def _aggregation_retrieval(
        self,
        entity_df: EntityInput,
        specs: tuple[ViewReadSpec, ...],
        *,
        point_in_time: PointInTime,
        timestamp_column: str,
    ) -> DuckDBRetrievalJob:
        # Aggregation views read their events and probe them at each entity row's time.
        if point_in_time != "event":
            raise DefinitionError(
                f"point_in_time={point_in_time!r} is not supported for aggregation views yet; "
                "use point_in_time='event' (events count from their event time)."
            )
        names = [s.name for s in specs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DefinitionError(
                f"views {repeated} are listed more than once; list each view once and select "
                "all its features in one ViewReadSpec."
            )
        scans = [open_source(events_spec(s) if s.aggregations else s) for s in specs]
        cursor = self._connect()
        schema = self._load_entities(cursor, entity_df)
        check_entity_schema(schema, specs, timestamp_column=timestamp_column)
        sql, params = prepare_aggregation_join(
            cursor, specs, scans, entity_columns=schema.names, timestamp_column=timestamp_column
        )
        return DuckDBRetrievalJob(
            self,
            cursor,
            sql=sql,
            params=params,
            specs=specs,
            scans=scans,
            point_in_time=point_in_time,
            timestamp_column=timestamp_column,
        )

    def get_saved_dataset(self, name: str) -> SavedDataset:
        """A dataset saved by :meth:`DuckDBRetrievalJob.save`: frame and lineage.

        Example:
            >>> engine.get_saved_dataset("churn_train").lineage.point_in_time  # doctest: +SKIP
            'event'
        """
        return load_saved_dataset(self.offline_path, name)

    def rebuild_saved_dataset(self, name: str) -> DuckDBRetrievalJob:
        """Re-run a saved dataset's join from its lineage: same entity frame, same
        Delta table versions (time travel). Parquet sources must be unchanged.

        Example:
            >>> engine.rebuild_saved_dataset("churn_train").to_arrow()  # doctest: +SKIP
        """
        saved = self.get_saved_dataset(name)
        lineage = saved.lineage
        specs = []
        for spec_data, read in zip(lineage.specs, lineage.reads, strict=True):
            spec = ViewReadSpec.from_dict(spec_data)
            if read["format"] == "delta":
                spec = spec.at_table_version(read["table_version"])
            specs.append(spec)
        job = self.get_historical_features(
            saved.entities(),
            specs,
            point_in_time=lineage.point_in_time,  # type: ignore[arg-type]
            timestamp_column=lineage.timestamp_column,
        )
        for scan, read in zip(job.scans, lineage.reads, strict=True):
            if read["format"] == "parquet":
                now = scan.table_read.to_dict(with_digests=True)
                if now["files"] != read["files"]:
                    raise ChangeRefused(
                        f"Cannot rebuild saved dataset {name!r}: the Parquet files of view "
                        f"{read['view']} at {read['path']!r} changed since it was saved. "
                        "Parquet has no time travel; store the view as a Delta table to "
                        "rebuild old datasets."
                    )
        return job

    def append(self, spec: ViewReadSpec, rows: RowsInput) -> WriteReport:
        """Append rows to the view's Delta table; invalid rows go to quarantine.

        Late or out-of-order rows simply land: reads go by event time.

        Example:
            >>> engine.append(spec, new_rows).rows_written  # doctest: +SKIP
            120
        """
        return append_rows(spec, rows, quarantine_root=self._storage.quarantine_root)

    def backfill(
        self, spec: ViewReadSpec, rows: RowsInput, *, start: datetime, end: datetime
    ) -> WriteReport:
        """Atomically replace ``[start, end)`` (by event time) of the view's Delta table.

        Every row is validated first; if any row is invalid or outside the range, the
        rejected rows go to quarantine, nothing changes and ``SchemaMismatch`` is raised.

        Example:
            >>> engine.backfill(spec, rows, start=jan1, end=feb1).table_version  # doctest: +SKIP
            7
        """
        return backfill_rows(
            spec, rows, start=start, end=end, quarantine_root=self._storage.quarantine_root
        )
