"""Apache Spark offline engine: the same point-in-time joins, past one machine.

``offline_store: {type: spark, master: "spark://host:7077"}`` in ``parity.yaml``; pyspark
is the optional extra ``pip install "parity[spark]"`` and needs a Java 17+ runtime. The
joins are Spark DataFrame plans (:mod:`parity.offline.spark_plan`) with exactly the
semantics of :mod:`parity.offline.point_in_time`; the conformance suite runs on both
engines and compares cells.

Delta tables are read without Spark's Delta jars (nothing is downloaded at run time):
delta-rs (``deltalake``) resolves the table version to its list of Parquet files, and Spark
reads those files. Partition values come from the Hive-style paths, typed by the Delta
schema. Tables whose files alone do not give the version's rows (deletion vectors, column
mapping) are refused with an error. Writes go through parity's own Delta writer.

Results come back as a Spark DataFrame (:meth:`SparkRetrievalJob.to_spark`) or, through
the driver, as Arrow/pandas/Polars: the job writes the ordered result to Parquet under
``<offline path>/tmp`` and streams it back in bounded batches.

Example:
    >>> SparkOfflineConfig().master
    'local[*]'
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from parity.errors import ChangeRefused, DefinitionError, SchemaMismatch, did_you_mean
from parity.offline.base import (
    POINT_IN_TIME_MODES,
    EntityInput,
    OfflineEngine,
    PointInTime,
    RetrievalJob,
    ViewReadSpec,
    rebuild_specs,
)
from parity.offline.delta_writes import append_rows, backfill_rows
from parity.offline.entity_frame import (
    ROW_COLUMN,
    check_entity_schema,
    entity_kind,
    frame_to_arrow,
    number_rows,
)
from parity.offline.partitions import PartitionedSourceRows, PartitionTask
from parity.offline.saved_dataset import (
    DATA_FILE,
    ENTITIES_FILE,
    LINEAGE_FILE,
    Lineage,
    SavedDataset,
    check_dataset_name,
    datasets_root,
    entity_fingerprint,
    load_saved_dataset,
)
from parity.offline.source_scan import SourceScan, TableRead, open_source
from parity.offline.spark_session import SparkOfflineConfig, prepare_session, start_session
from parity.offline.writes import RowsInput, WriteReport
from parity.storage import StorageLayout

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


def read_source(session: SparkSession, spec: ViewReadSpec, scan: SourceScan) -> DataFrame:
    """The rows of an opened source as a DataFrame, at the scanned Delta version.

    Example:
        >>> read_source(spark, spec, open_source(spec)).count()  # doctest: +SKIP
        5
    """
    if spec.source.format == "parquet":
        return session.read.option("mergeSchema", "true").parquet(*scan.files)
    from deltalake import DeltaTable
    from pyspark.sql.pandas.types import from_arrow_schema

    table = DeltaTable(spec.source.path, version=scan.table_read.table_version)
    protocol = table.protocol()
    refused = sorted(set(protocol.reader_features or ()) - {"timestampNtz"})
    if refused or protocol.min_reader_version == 2:
        raise SchemaMismatch(
            f"view {spec.ref}: the Delta table at {spec.source.path!r} (version "
            f"{scan.table_read.table_version}) uses reader features {refused or ['columnMapping']}"
            ", which a plain read of its Parquet files cannot honour and the spark engine has no "
            "Delta jars. Rewrite the table without them (e.g. purge deletion vectors) or use "
            "offline_store.type: duckdb."
        )
    files = [uri.removeprefix("file://") for uri in table.file_uris()]
    schema = from_arrow_schema(_plain_arrow_schema(scan.schema))
    if not files:
        return session.createDataFrame([], schema)
    reader = session.read.schema(schema)
    if table.metadata().partition_columns:
        reader = reader.option("basePath", spec.source.path.removeprefix("file://"))
    return reader.parquet(*files)


def _plain_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with view and large types replaced by the types Spark maps."""
    import pyarrow as pa

    def plain(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", tz=t.tz)
        if pa.types.is_large_list(t) or pa.types.is_list_view(t):
            return pa.list_(plain(t.value_type))
        if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
            return pa.list_(plain(t.value_type))
        return t

    return pa.schema([pa.field(f.name, plain(f.type), f.nullable) for f in schema])


def output_schema(entity_schema: pa.Schema, specs: Sequence[ViewReadSpec]) -> pa.Schema:
    """The Arrow schema of a training frame, as the DuckDB engine returns it: entity
    columns (timestamps as ``timestamp[us, UTC]``, large types plain), then the features.

    Example:
        >>> import pyarrow as pa
        >>> output_schema(pa.schema([("t", pa.timestamp("ns", "Asia/Kolkata"))]), []).types
        [TimestampType(timestamp[us, tz=UTC])]
    """
    import pyarrow as pa

    fields = []
    for f in entity_schema:
        if f.name == ROW_COLUMN:
            continue
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", tz="UTC")
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t))
    for spec in specs:
        fields += [pa.field(f.output_name, f.dtype.to_arrow()) for f in spec.features]
    return pa.schema(fields)


class SparkRetrievalJob(RetrievalJob):
    """A planned point-in-time join on Spark; each ``to_*`` runs it.

    Example:
        >>> job.to_spark().count()  # doctest: +SKIP
        1000
    """

    def __init__(
        self,
        engine: SparkOfflineEngine,
        frame: DataFrame,
        entities: DataFrame,
        *,
        schema: pa.Schema,
        entity_schema: pa.Schema,
        specs: Sequence[ViewReadSpec],
        scans: Sequence[SourceScan],
        point_in_time: PointInTime,
        timestamp_column: str,
    ) -> None:
        self._engine = engine
        self._frame = frame
        self._entities = entities
        self.schema = schema
        self.entity_schema = entity_schema
        self.specs = tuple(specs)
        self.scans = tuple(scans)
        self.point_in_time = point_in_time
        self.timestamp_column = timestamp_column

    @property
    def table_versions(self) -> dict[str, int | None]:
        """The Delta table version each view read (None for Parquet sources)."""
        return {s.table_read.view: s.table_read.table_version for s in self.scans}

    def to_spark(self) -> DataFrame:
        """The result as a Spark DataFrame (entity columns, then features; no row order
        guarantee unless you sort: Spark frames are unordered).

        Example:
            >>> job.to_spark().write.parquet("s3://bucket/train/")  # doctest: +SKIP
        """
        return self._frame.drop(ROW_COLUMN)

    def to_batches(self) -> pa.RecordBatchReader:
        """Stream the result in entity-row order, in Arrow batches of ``batch_rows`` rows.

        Spark sorts by row number and writes Parquet under ``<offline path>/tmp``; the
        driver reads the files back in order, one batch at a time, and removes them.
        """
        return self.finish(self._engine.ordered_reader(self._frame, self.schema))

    def _entity_reader(self) -> pa.RecordBatchReader:
        schema = output_schema(self.entity_schema, [])
        return self._engine.ordered_reader(self._entities, schema)

    def save(self, name: str) -> SavedDataset:
        """Write the frame, its entity frame and ``lineage.json`` under ``datasets/<name>/``.

        Example:
            >>> job.save("churn_train").lineage.engine  # doctest: +SKIP
            'spark'
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
            reader = self._entity_reader()
            with pq.ParquetWriter(staging / ENTITIES_FILE, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
            lineage = Lineage(
                name=name,
                views=tuple((s.name, s.version) for s in self.specs),
                specs=tuple(s.to_dict() for s in self.specs),
                entity_fingerprint=entity_fingerprint(
                    staging / ENTITIES_FILE, row_column=ROW_COLUMN
                ),
                reads=tuple(scan.table_read.to_dict(with_digests=True) for scan in self.scans),
                row_count=pq.ParquetFile(staging / DATA_FILE).metadata.num_rows,
                point_in_time=self.point_in_time,
                timestamp_column=self.timestamp_column,
                created_at=datetime.now(UTC).isoformat(),
                transforms=None if self.output_step is None else self.output_step.lineage(),
                engine="spark",
            )
            (staging / LINEAGE_FILE).write_text(json.dumps(lineage.to_dict(), indent=2))
            staging.rename(target)  # atomic: readers see the whole dataset or none of it
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return SavedDataset(name=name, path=target, lineage=lineage)


class SparkOfflineEngine(OfflineEngine, PartitionedSourceRows):
    """The distributed offline engine: Spark over Parquet files and Delta tables.

    Pass ``session=`` to reuse a SparkSession you already have (it is not stopped by
    :meth:`close`); otherwise one is started from the config on first use (or the session
    already running in this process is reused, and likewise never stopped).

    Example:
        >>> engine = SparkOfflineEngine(SparkOfflineConfig(path="offline"), repo_root="/repo")
        >>> engine.offline_path.as_posix()
        '/repo/offline'
    """

    def __init__(
        self,
        config: SparkOfflineConfig,
        *,
        repo_root: str | Path,
        session: SparkSession | None = None,
    ) -> None:
        self.config = config
        self.repo_root = Path(repo_root)
        self._storage = StorageLayout.resolve(self.repo_root, offline_path=config.path)
        self._session = session
        self._owns_session = session is None
        self._spill_dirs: set[Path] = set()

    @property
    def storage(self) -> StorageLayout:
        """Where this engine keeps managed tables, quarantine and saved datasets."""
        return self._storage

    @property
    def offline_path(self) -> Path:
        """The offline root (``storage.offline_root``)."""
        return self._storage.offline_root

    @property
    def session(self) -> SparkSession:
        """The engine's SparkSession (started on first use)."""
        if self._session is None:
            from pyspark import SparkContext

            # getOrCreate hands back a session already running in this process (a
            # notebook's, a test run's): it stays its owner's to stop, not ours.
            self._owns_session = SparkContext._active_spark_context is None
            self._session = start_session(self.config)
        prepare_session(self._session)
        return self._session

    def close(self) -> None:
        """Remove result spill files; stop the session if the engine started it."""
        for folder in list(self._spill_dirs):
            shutil.rmtree(folder, ignore_errors=True)
        self._spill_dirs.clear()
        if self._session is not None and self._owns_session:
            self._session.stop()
        self._session = None if self._owns_session else self._session

    def ordered_reader(self, frame: DataFrame, schema: pa.Schema) -> pa.RecordBatchReader:
        """Batches of ``frame`` in :data:`ROW_COLUMN` order, cast to ``schema``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self.offline_path / "tmp" / f"spark-{uuid.uuid4().hex}"
        self._spill_dirs.add(folder)
        frame.orderBy(ROW_COLUMN).write.parquet(str(folder))
        # A global sort writes range partition i to part-i: file name order is row order.
        files = sorted(folder.glob("part-*.parquet"))
        names = schema.names

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for file in files:
                    for batch in pq.ParquetFile(file).iter_batches(
                        batch_size=self.config.batch_rows, columns=names
                    ):
                        table = pa.Table.from_batches([batch]).cast(schema)
                        yield from table.to_batches()
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                self._spill_dirs.discard(folder)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _load_entities(
        self,
        entity_df: EntityInput | DataFrame,
        specs: Sequence[ViewReadSpec],
        *,
        timestamp_column: str,
    ) -> tuple[DataFrame, pa.Schema]:
        from pyspark.sql import DataFrame as SparkFrame
        from pyspark.sql import functions as sf
        from pyspark.sql.pandas.types import to_arrow_schema

        session = self.session
        if isinstance(entity_df, SparkFrame):
            frame = entity_df.withColumn(ROW_COLUMN, sf.monotonically_increasing_id())
        elif isinstance(entity_df, str | Path) and entity_kind(entity_df) == "sql":
            # The query is the caller's own SQL over this store, run as written.
            for spec in specs:
                read_source(session, spec, open_source(spec)).createOrReplaceTempView(spec.name)
            frame = session.sql(str(entity_df)).withColumn(
                ROW_COLUMN, sf.monotonically_increasing_id()
            )
        elif isinstance(entity_df, str | Path):
            path = Path(entity_df)
            if (path / "_delta_log").is_dir():
                from deltalake import DeltaTable

                files = [u.removeprefix("file://") for u in DeltaTable(str(path)).file_uris()]
            else:
                files = [str(path)] if path.is_file() else sorted(map(str, path.rglob("*.parquet")))
            frame = session.read.parquet(*files).withColumn(
                ROW_COLUMN, sf.monotonically_increasing_id()
            )
        else:
            table = number_rows(frame_to_arrow(entity_df))
            # Checked before anything reaches the JVM: the caller's own types decide.
            check_entity_schema(table.schema, specs, timestamp_column=timestamp_column)
            frame = session.createDataFrame(_spark_ready(table))
            return frame, table.schema
        return frame, to_arrow_schema(frame.schema, timezone="UTC")

    def get_historical_features(
        self,
        entity_df: EntityInput | DataFrame,
        specs: Sequence[ViewReadSpec],
        *,
        point_in_time: PointInTime = "event",
        timestamp_column: str = "event_timestamp",
    ) -> SparkRetrievalJob:
        """Join the features of ``specs`` onto ``entity_df`` as of each row's timestamp.

        ``entity_df``: a pandas, Arrow or Polars frame, a Parquet file or folder, a Delta
        table path, a Spark DataFrame, or a Spark SQL query (each spec's source is readable
        under the view name).

        Example:
            >>> job = engine.get_historical_features(  # doctest: +SKIP
            ...     df, [spec], point_in_time="available")
        """
        from pyspark.sql import functions as sf

        from parity.offline.spark_plan import (
            PROBE_TIME,
            aggregation_matches,
            point_in_time_matches,
            training_frame,
            with_probe_time,
        )

        if point_in_time not in POINT_IN_TIME_MODES:
            raise DefinitionError(
                f"point_in_time={point_in_time!r} is not a mode."
                f"{did_you_mean(str(point_in_time), POINT_IN_TIME_MODES)} "
                "Use 'event' or 'available'."
            )
        specs = tuple(specs)
        aggregated = any(spec.aggregations for spec in specs)
        if aggregated and point_in_time != "event":
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
        from parity.offline.aggregations import events_spec

        scans = [open_source(events_spec(s) if s.aggregations else s) for s in specs]
        session = self.session
        entities, schema = self._load_entities(entity_df, specs, timestamp_column=timestamp_column)
        check_entity_schema(schema, specs, timestamp_column=timestamp_column)
        probes = with_probe_time(entities, timestamp_column)
        probe_range = None
        if aggregated:
            row = probes.agg(sf.min(PROBE_TIME), sf.max(PROBE_TIME)).first()
            assert row is not None
            probe_range = None if row[0] is None else (int(row[0]), int(row[1]))
        matches = []
        for spec, scan in zip(specs, scans, strict=True):
            read_spec = events_spec(spec) if spec.aggregations else spec
            source = read_source(session, read_spec, scan)
            if spec.aggregations:
                matches.append(aggregation_matches(probes, spec, source, probe_range=probe_range))
            else:
                matches.append(point_in_time_matches(probes, spec, source, mode=point_in_time))
        columns = [*(c for c in schema.names if c != ROW_COLUMN), ROW_COLUMN]
        frame = training_frame(probes, columns, matches)
        return SparkRetrievalJob(
            self,
            frame,
            entities,
            schema=output_schema(schema, specs),
            entity_schema=schema,
            specs=specs,
            scans=scans,
            point_in_time=point_in_time,
            timestamp_column=timestamp_column,
        )

    def get_saved_dataset(self, name: str) -> SavedDataset:
        """A saved dataset (built by either engine): frame and lineage.

        Example:
            >>> engine.get_saved_dataset("churn_train").lineage.engine  # doctest: +SKIP
            'duckdb'
        """
        return load_saved_dataset(self.offline_path, name)

    def rebuild_saved_dataset(self, name: str) -> SparkRetrievalJob:
        """Re-run a saved dataset's join (built by either engine) from its lineage: same
        entity frame, same Delta table versions. Parquet sources must be unchanged.

        Example:
            >>> engine.rebuild_saved_dataset("churn_train").to_arrow()  # doctest: +SKIP
        """
        saved = self.get_saved_dataset(name)
        lineage = saved.lineage
        specs = rebuild_specs(lineage)
        job = self.get_historical_features(
            saved.entities(),
            specs,
            point_in_time=lineage.point_in_time,  # type: ignore[arg-type]
            timestamp_column=lineage.timestamp_column,
        )
        _check_parquet_unchanged(name, job.scans, lineage)
        return job

    def map_source_partitions(
        self,
        spec: ViewReadSpec,
        /,
        *,
        bounds: Mapping[str, datetime],
        task: PartitionTask,
    ) -> tuple[pa.Table, TableRead]:
        """Run ``task`` on the executors, once per partition of the window's rows (all rows
        of an entity in one partition, in read order); only the outputs are collected.

        Example:
            >>> outputs, read = engine.map_source_partitions(  # doctest: +SKIP
            ...     spec, bounds={"end": t1}, task=publisher)
        """
        from parity.offline.spark_partitions import map_partitions

        if spec.aggregations:
            raise DefinitionError(
                f"view {spec.ref}: aggregation views are computed at the sync instant, not "
                "read partition by partition; materialize them through the local path."
            )
        scan = open_source(spec)
        source = read_source(self.session, spec, scan)
        return map_partitions(source, spec, bounds=bounds, task=task), scan.table_read

    def append(self, spec: ViewReadSpec, rows: RowsInput) -> WriteReport:
        """Append rows to the view's Delta table (parity's writer); invalid rows go to
        quarantine.

        Example:
            >>> engine.append(spec, new_rows).rows_written  # doctest: +SKIP
            120
        """
        return append_rows(spec, rows, quarantine_root=self._storage.quarantine_root)

    def backfill(
        self, spec: ViewReadSpec, rows: RowsInput, *, start: datetime, end: datetime
    ) -> WriteReport:
        """Atomically replace ``[start, end)`` of the view's Delta table (parity's writer).

        Example:
            >>> engine.backfill(spec, rows, start=jan1, end=feb1).table_version  # doctest: +SKIP
            7
        """
        return backfill_rows(
            spec, rows, start=start, end=end, quarantine_root=self._storage.quarantine_root
        )


def _check_parquet_unchanged(name: str, scans: Sequence[SourceScan], lineage: Lineage) -> None:
    for scan, read in zip(scans, lineage.reads, strict=True):
        if read["format"] == "parquet":
            now = scan.table_read.to_dict(with_digests=True)
            if now["files"] != read["files"]:
                raise ChangeRefused(
                    f"Cannot rebuild saved dataset {name!r}: the Parquet files of view "
                    f"{read['view']} at {read['path']!r} changed since it was saved. "
                    "Parquet has no time travel; store the view as a Delta table to "
                    "rebuild old datasets."
                )


def _spark_ready(table: pa.Table) -> pa.Table:
    """An entity table Spark's Arrow reader accepts: plain types, timestamps as us."""
    return table.cast(_plain_arrow_schema(table.schema), safe=False)


__all__ = [
    "SparkOfflineConfig",
    "SparkOfflineEngine",
    "SparkRetrievalJob",
    "output_schema",
    "read_source",
    "start_session",
]
