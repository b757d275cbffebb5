"""The offline engine interface: what a DuckDB or Spark engine implements.

The seam speaks plain data. An engine reads :class:`ViewReadSpec` values (one feature view
version, fully resolved: source path, timestamp columns, join keys, features and ttl) and
returns a :class:`RetrievalJob` that streams Arrow record batches.

Point-in-time semantics, for an entity row ``(keys, t)`` and a view with ``ttl``:

- ``point_in_time="event"`` (default): take the feature row with the greatest event
  timestamp ``<= t`` (ties broken by the greatest created timestamp) and keep it only if
  its event timestamp is ``>= t - ttl`` (a row at exactly ``t - ttl`` is in); otherwise
  the features are null.
- ``point_in_time="available"``: the same, but rows whose created timestamp is after
  ``t`` do not exist yet (for example values written later by a backfill), so a training
  set reproduces exactly what serving could have seen at ``t``.

One output row per entity row, in input order, every input column kept.

Example:
    >>> from datetime import timedelta
    >>> from parity.types import Float64, Int64
    >>> spec = ViewReadSpec(
    ...     name="user_stats", version=1,
    ...     source=SourceSpec(format="parquet", path="/data/user_stats.parquet",
    ...                       timestamp_field="ts"),
    ...     join_keys=(JoinKey("user_id", Int64),),
    ...     features=(FeatureColumn("spend", "spend_7d", Float64),),
    ...     ttl=timedelta(days=2),
    ... )
    >>> spec.output_columns
    ('spend_7d',)
"""

from __future__ import annotations

import abc
import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union

from parity.definitions import Aggregation, DeltaSource, FeatureView, PushSource
from parity.definitions.source import CDCSource
from parity.errors import DefinitionError, did_you_mean
from parity.storage.object_store import ObjectStorage
from parity.types import DType, parse_dtype

# The raw-event column of a CDC-fed view that marks retractions (the capture's op field).
RETRACTION_FIELD = "__op"

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from parity.offline.saved_dataset import Lineage, SavedDataset
    from parity.offline.writes import RowsInput, WriteReport
    from parity.storage import StorageLayout

__all__ = [
    "EntityInput",
    "FeatureColumn",
    "JoinKey",
    "OfflineEngine",
    "OutputStep",
    "PointInTime",
    "RetrievalJob",
    "SourceSpec",
    "ViewReadSpec",
]

PointInTime = Literal["event", "available"]
POINT_IN_TIME_MODES: tuple[str, ...] = ("event", "available")

# An entity frame: a pandas, Arrow or Polars frame, a Parquet path, or a SQL query string.
EntityInput = Union["pd.DataFrame", "pa.Table", "pl.DataFrame", Path, str]


@dataclass(frozen=True)
class SourceSpec:
    """Where one view version's rows are, resolved to an absolute path or a URI.

    ``table_version`` pins a Delta table version (time travel); None reads the latest.
    ``storage`` is how to reach ``path`` when it is an ``s3://`` URI (connection
    settings, never part of the spec's identity or repr).

    Example:
        >>> SourceSpec(format="delta", path="/data/txns", timestamp_field="ts").table_version
    """

    format: Literal["parquet", "delta"]
    path: str
    timestamp_field: str
    created_timestamp_field: str | None = None
    table_version: int | None = None
    # Change data capture (#18): the column whose value "d" marks a retraction of the
    # entity (a delete); an aggregation then sees only the entity's events after its last
    # retraction. None for every other source.
    op_field: str | None = None
    storage: ObjectStorage = field(default_factory=ObjectStorage, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.format not in ("parquet", "delta"):
            raise DefinitionError(
                f"SourceSpec.format: unknown format {self.format!r}."
                f"{did_you_mean(str(self.format), ('parquet', 'delta'))} Use 'parquet' or 'delta'."
            )
        if self.table_version is not None and self.format != "delta":
            raise DefinitionError(
                f"SourceSpec({self.path!r}): table_version={self.table_version} applies to Delta "
                "tables only; Parquet files have no versions. Remove table_version."
            )


@dataclass(frozen=True)
class JoinKey:
    """One typed join key column (same name in the entity frame and the output).

    ``source_column`` is its name in the source data (after the view's field mapping).

    Example:
        >>> from parity.types import Int64
        >>> JoinKey("user_id", Int64).source_column
        'user_id'
    """

    name: str
    dtype: DType
    source_column: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", parse_dtype(self.dtype, what=f"join key {self.name!r}"))
        if not self.source_column:
            object.__setattr__(self, "source_column", self.name)


@dataclass(frozen=True)
class FeatureColumn:
    """One feature to read: the source column, the output column name, the dtype.

    Example:
        >>> from parity.types import Float64
        >>> FeatureColumn("amt", "amount", Float64).output_name
        'amount'
    """

    source_column: str
    output_name: str
    dtype: DType
    # A nullable feature whose column the source lacks reads as null (compatible change).
    nullable: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "dtype", parse_dtype(self.dtype, what=f"feature {self.output_name!r}")
        )


@dataclass(frozen=True)
class ViewReadSpec:
    """One feature view version to read, resolved to plain data.

    Example:
        >>> from parity import ParquetSource, Entity, FeatureView, Field, Float64, Int64
        >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
        >>> stats = FeatureView("user_stats", entities=[user], schema=[Field("spend", Float64)],
        ...                     source=ParquetSource("data/stats.parquet", timestamp_field="ts"))
        >>> spec = ViewReadSpec.from_view(stats, version=1, repo_root="/repo")
        >>> spec.source.path
        '/repo/data/stats.parquet'
    """

    name: str
    version: int
    source: SourceSpec
    join_keys: tuple[JoinKey, ...]
    features: tuple[FeatureColumn, ...]
    ttl: timedelta | None = None
    # Aggregation views: each feature's ``source_column`` is its aggregation's name, and
    # the engine computes it from the raw events (parity.offline.aggregations).
    aggregations: tuple[Aggregation, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "join_keys", tuple(self.join_keys))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "aggregations", tuple(self.aggregations))
        if not self.join_keys:
            raise DefinitionError(f"ViewReadSpec {self.name!r}: at least one join key is needed.")
        if not self.features:
            raise DefinitionError(f"ViewReadSpec {self.name!r}: select at least one feature.")
        outputs = self.output_columns
        clashes = sorted({o for o in outputs if outputs.count(o) > 1})
        if clashes:
            raise DefinitionError(
                f"ViewReadSpec {self.name!r}: output column(s) {clashes} are produced twice; "
                "give each feature its own name with output_names={...}."
            )

    @property
    def ref(self) -> str:
        """``name@vN``, as in lineage records and error messages."""
        return f"{self.name}@v{self.version}"

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Names of the feature columns this spec adds to the output, in order."""
        return tuple(f.output_name for f in self.features)

    def at_table_version(self, table_version: int | None) -> ViewReadSpec:
        """The same spec pinned to a Delta table version (time travel).

        Example:
            >>> from parity import DeltaSource, Entity, FeatureView, Field, Float64, Int64
            >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
            >>> stats = FeatureView("user_stats", entities=[user], schema=[Field("spend", Float64)],
            ...                     source=DeltaSource("data/user_stats", timestamp_field="ts"))
            >>> spec = ViewReadSpec.from_view(stats, version=1, repo_root="/repo")
            >>> spec.at_table_version(3).source.table_version
            3
        """
        return dataclasses.replace(
            self, source=dataclasses.replace(self.source, table_version=table_version)
        )

    @classmethod
    def from_view(
        cls,
        view: FeatureView,
        *,
        version: int,
        repo_root: str | Path,
        features: Sequence[str] | None = None,
        output_names: Mapping[str, str] | None = None,
        storage: ObjectStorage | None = None,
    ) -> ViewReadSpec:
        """Resolve a :class:`FeatureView` version into a spec.

        ``features`` selects some features (default: all, in schema order);
        ``output_names`` renames output columns, e.g. ``{"spend_7d": "user_stats__spend_7d"}``;
        ``storage`` reaches an ``s3://`` source (default: the AWS environment variables).

        Example:
            >>> from parity import ParquetSource, Entity, FeatureView, Field, Float64, Int64
            >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
            >>> stats = FeatureView("user_stats", entities=[user], schema=[Field("spend", Float64)],
            ...                     source=ParquetSource("stats.parquet", timestamp_field="ts"))
            >>> ViewReadSpec.from_view(stats, version=2, repo_root=".").ref
            'user_stats@v2'
        """
        batch = (
            view.source.batch_source
            if isinstance(view.source, PushSource | CDCSource)
            else view.source
        )
        path = Path(batch.path)
        if not path.is_absolute() and "://" not in batch.path:
            path = Path(repo_root) / path
        selected = tuple(features) if features is not None else view.feature_names
        names = dict(output_names or {})
        unknown = sorted(set(names) - set(selected))
        if unknown:
            raise DefinitionError(
                f"output_names for view {view.name!r} names {unknown}, which are not selected "
                f"features. Selected: {', '.join(selected)}."
            )
        return cls(
            name=view.name,
            version=version,
            source=SourceSpec(
                format="delta" if isinstance(batch, DeltaSource) else "parquet",
                path=str(path) if "://" not in batch.path else batch.path,
                timestamp_field=batch.timestamp_field,
                created_timestamp_field=batch.created_timestamp_field,
                op_field=RETRACTION_FIELD if isinstance(view.source, CDCSource) else None,
                storage=storage if storage is not None else ObjectStorage.from_config(),
            ),
            join_keys=tuple(
                JoinKey(key.name, key.dtype, batch.column_for(key.name))
                for entity in view.entities
                for key in entity.join_keys
            ),
            features=tuple(
                FeatureColumn(
                    batch.column_for(n),
                    names.get(n, n),
                    view.field(n).dtype,
                    # An explicitly mapped column is a promise that it exists: still refused.
                    nullable=view.field(n).nullable and batch.column_for(n) == n,
                )
                for n in selected
            ),
            ttl=view.ttl,
            aggregations=tuple(
                dataclasses.replace(a, column=batch.column_for(a.column))
                for a in view.aggregations
                if a.name in selected
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain form for lineage records; :meth:`from_dict` reverses it."""
        return {
            "name": self.name,
            "version": self.version,
            # The connection settings are not part of what was read (and hold secrets);
            # op_field only when set.
            "source": {
                f.name: getattr(self.source, f.name)
                for f in dataclasses.fields(self.source)
                if f.name != "storage"
                and (f.name != "op_field" or getattr(self.source, f.name) is not None)
            },
            "join_keys": [
                {"name": k.name, "dtype": k.dtype.name, "source_column": k.source_column}
                for k in self.join_keys
            ],
            "features": [
                {
                    "source_column": f.source_column,
                    "output_name": f.output_name,
                    "dtype": f.dtype.name,
                    "nullable": f.nullable,
                }
                for f in self.features
            ],
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            **(
                {"aggregations": [a.to_dict() for a in self.aggregations]}
                if self.aggregations
                else {}
            ),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, storage: ObjectStorage | None = None
    ) -> ViewReadSpec:
        """Rebuild a spec from :meth:`to_dict` output (``storage`` reaches ``s3://``)."""
        ttl = data["ttl_seconds"]
        return cls(
            name=data["name"],
            version=data["version"],
            source=SourceSpec(
                **data["source"],
                storage=storage if storage is not None else ObjectStorage.from_config(),
            ),
            join_keys=tuple(JoinKey(**k) for k in data["join_keys"]),
            features=tuple(FeatureColumn(**f) for f in data["features"]),
            ttl=None if ttl is None else timedelta(seconds=ttl),
            aggregations=tuple(Aggregation.from_dict(a) for a in data.get("aggregations", [])),
        )


class OutputStep(Protocol):
    """Vectorised work on each joined batch, after the join (a service's row transforms).

    Example:
        >>> job.with_output_step(plan.transforms)  # doctest: +SKIP
    """

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema of the batches :meth:`apply_offline` returns."""
        ...

    def apply_offline(self, batch: pa.Table) -> pa.Table:
        """One joined batch, transformed (same rows, same order)."""
        ...

    def lineage(self) -> dict[str, Any]:
        """What a saved dataset records about the step."""
        ...


class RetrievalJob(abc.ABC):
    """A lazily run point-in-time join; every ``to_*`` call runs it (streaming).

    Example:
        >>> job = engine.get_historical_features(entity_df, [spec])  # doctest: +SKIP
        >>> job.to_pandas().shape  # doctest: +SKIP
        (3, 4)
    """

    #: Run on every result batch after the join; engines pass their reader through
    #: :meth:`finish` so that every ``to_*`` and ``save`` sees its output.
    output_step: OutputStep | None = None

    def with_output_step(self, step: OutputStep) -> RetrievalJob:
        """A copy of this job whose result batches pass through ``step``.

        Example:
            >>> job.with_output_step(plan.transforms).to_arrow()  # doctest: +SKIP
        """
        job = copy.copy(self)
        job.output_step = step
        return job

    def finish(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """``reader`` with :attr:`output_step` applied batch by batch (streaming)."""
        step = self.output_step
        if step is None:
            return reader
        import pyarrow as pa

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in _batches(reader):
                yield from step.apply_offline(pa.Table.from_batches([batch])).to_batches()

        return pa.RecordBatchReader.from_batches(step.output_schema(reader.schema), batches())

    @abc.abstractmethod
    def to_batches(self) -> pa.RecordBatchReader:
        """Stream the result as Arrow record batches, in entity-row order, memory bounded."""

    @abc.abstractmethod
    def save(self, name: str) -> SavedDataset:
        """Persist the result as a saved dataset with its lineage record; return it."""

    def to_arrow(self) -> pa.Table:
        """The whole result as one Arrow table."""
        return self.to_batches().read_all()

    def to_pandas(self) -> pd.DataFrame:
        """The whole result as a pandas frame (timestamps stay UTC-aware)."""
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def to_polars(self) -> pl.DataFrame:
        """The whole result as a Polars frame."""
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_parquet(self, path: str | Path) -> Path:
        """Stream the result into one Parquet file; return its path."""
        import pyarrow.parquet as pq

        reader = self.to_batches()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(target, reader.schema) as writer:
            for batch in _batches(reader):
                writer.write_batch(batch)
        return target


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


class OfflineEngine(abc.ABC):
    """An offline compute engine: point-in-time joins, saved datasets, Delta writes.

    Example:
        >>> engine.get_historical_features(entity_df, [spec]).to_arrow()  # doctest: +SKIP
    """

    @property
    @abc.abstractmethod
    def storage(self) -> StorageLayout:
        """Where the engine keeps parity-managed tables, quarantine and saved datasets."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the engine's resources (connections, sessions); idempotent."""

    def __enter__(self) -> OfflineEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def get_historical_features(
        self,
        entity_df: EntityInput,
        specs: Sequence[ViewReadSpec],
        *,
        point_in_time: PointInTime = "event",
        timestamp_column: str = "event_timestamp",
    ) -> RetrievalJob:
        """Join the features of ``specs`` onto ``entity_df`` as of each row's timestamp."""

    @abc.abstractmethod
    def get_saved_dataset(self, name: str) -> SavedDataset:
        """A dataset saved by :meth:`RetrievalJob.save`: its frame and lineage."""

    @abc.abstractmethod
    def append(self, spec: ViewReadSpec, rows: RowsInput) -> WriteReport:
        """Append rows to the view's Delta table; invalid rows go to quarantine."""

    @abc.abstractmethod
    def backfill(
        self, spec: ViewReadSpec, rows: RowsInput, *, start: datetime, end: datetime
    ) -> WriteReport:
        """Atomically replace ``[start, end)`` of the view's Delta table with ``rows``."""


def rebuild_specs(lineage: Lineage) -> list[ViewReadSpec]:
    """The view specs a lineage record read, pinned to the Delta versions it read.

    Example:
        >>> rebuild_specs(engine.get_saved_dataset("churn").lineage)  # doctest: +SKIP
    """
    specs = []
    for spec_data, read in zip(lineage.specs, lineage.reads, strict=True):
        spec = ViewReadSpec.from_dict(spec_data)
        if read["format"] == "delta":
            spec = spec.at_table_version(read["table_version"])
        specs.append(spec)
    return specs
