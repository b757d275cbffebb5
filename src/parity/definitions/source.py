"""Data sources: where a feature view's rows come from.

A batch source is a Parquet file or folder, or a Delta table, with an event timestamp
column, an optional created timestamp column (when the row was written; it breaks ties
and drives incremental syncs) and an optional mapping from source column names to
feature names. A :class:`PushSource` receives rows through the push API and keeps them in
its batch source, so training sees what serving saw.

Example:
    >>> src = ParquetSource("data/txns.parquet", timestamp_field="ts",
    ...                     field_mapping={"amt": "amount"})
    >>> src.to_dict()["type"]
    'parquet'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

from parity.definitions.canonical import check_name, check_text
from parity.errors import DefinitionError


def _check_mapping(mapping: object, *, what: str) -> dict[str, str]:
    if not isinstance(mapping, Mapping):
        raise DefinitionError(
            f"{what}.field_mapping: expected a dict of source column -> feature name, "
            f"got {mapping!r}."
        )
    for source_col, feature in mapping.items():
        check_name(source_col, what=f"{what}.field_mapping key")
        check_name(feature, what=f"{what}.field_mapping[{source_col!r}]")
    out: dict[str, str] = dict(sorted(mapping.items()))
    targets = list(out.values())
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise DefinitionError(
            f"{what}.field_mapping: several source columns map to {duplicates}; each feature "
            "name may be the target of one column only."
        )
    return out


@dataclass(frozen=True)
class BatchSource:
    """Common shape of file-backed sources (use :class:`ParquetSource` or :class:`DeltaSource`)."""

    format: ClassVar[str] = "batch"

    path: str
    _: KW_ONLY
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    field_mapping: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        what = f"{type(self).__name__}({self.path!r})"
        if not isinstance(self.path, str) or not self.path.strip():
            raise DefinitionError(f"{what}.path: expected a non-empty path string.")
        check_name(self.timestamp_field, what=f"{what}.timestamp_field")
        if self.created_timestamp_field is not None:
            check_name(self.created_timestamp_field, what=f"{what}.created_timestamp_field")
            if self.created_timestamp_field == self.timestamp_field:
                raise DefinitionError(
                    f"{what}: created_timestamp_field and timestamp_field are both "
                    f"{self.timestamp_field!r}; the created timestamp must be its own column "
                    "(or None)."
                )
        object.__setattr__(self, "field_mapping", _check_mapping(self.field_mapping, what=what))
        check_text(self.description, what=f"{what}.description")

    def column_for(self, feature_name: str) -> str:
        """The source column that holds ``feature_name`` (after the field mapping)."""
        for source_col, feature in self.field_mapping.items():
            if feature == feature_name:
                return source_col
        return feature_name

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the source."""
        return {
            "type": self.format,
            "path": self.path,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "field_mapping": dict(self.field_mapping),
            "description": self.description,
        }


@dataclass(frozen=True)
class ParquetSource(BatchSource):
    """A Parquet file, or a folder of Parquet files, on local disk or object storage.

    Example:
        >>> ParquetSource("data/profiles.parquet", timestamp_field="updated_at").format
        'parquet'
    """

    format: ClassVar[str] = "parquet"


@dataclass(frozen=True)
class DeltaSource(BatchSource):
    """A Delta table; parity records its table version in every lineage it writes.

    Example:
        >>> DeltaSource("data/txns_delta", timestamp_field="ts").format
        'delta'
    """

    format: ClassVar[str] = "delta"


@dataclass(frozen=True)
class PushSource:
    """Rows pushed through the API or a stream, kept in ``batch_source`` for training.

    Example:
        >>> PushSource("txn_push", batch_source=DeltaSource("data/txns", timestamp_field="ts")).name
        'txn_push'
    """

    format: ClassVar[str] = "push"

    name: str
    _: KW_ONLY
    batch_source: ParquetSource | DeltaSource
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="PushSource name")
        if not isinstance(self.batch_source, ParquetSource | DeltaSource):
            raise DefinitionError(
                f"PushSource {self.name!r}.batch_source: expected a ParquetSource or "
                f"DeltaSource, got {self.batch_source!r}."
            )
        check_text(self.description, what=f"PushSource {self.name!r}.description")

    @property
    def timestamp_field(self) -> str:
        """Event timestamp column of the underlying batch source."""
        return self.batch_source.timestamp_field

    @property
    def created_timestamp_field(self) -> str | None:
        """Created timestamp column of the underlying batch source."""
        return self.batch_source.created_timestamp_field

    @property
    def field_mapping(self) -> Mapping[str, str]:
        """Field mapping of the underlying batch source."""
        return self.batch_source.field_mapping

    def column_for(self, feature_name: str) -> str:
        """The batch source column that holds ``feature_name``."""
        return self.batch_source.column_for(feature_name)

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the source."""
        return {
            "type": "push",
            "name": self.name,
            "batch_source": self.batch_source.to_dict(),
            "description": self.description,
        }


# --- change data capture (#18) -----------------------------------------------------------

_QUALIFIED = "schema.table (or table, in the default schema)"


@dataclass(frozen=True)
class CDCSource:
    """A table of an operational database whose changes feed views: common shape of
    :class:`PostgresCDCSource` and :class:`MySQLCDCSource`.

    Every committed insert and update of a row becomes an event of the row's key at the
    commit time (or at ``timestamp_column``) with the row's new values; a delete becomes a
    retraction of the key. The capture publishes them onto the view's stream and the
    stream processor appends them to ``batch_source`` (a Delta table), so training sets
    see exactly what serving saw. The connection is configuration (``cdc:`` in
    ``parity.yaml``), never part of the definition.
    """

    kind: ClassVar[str] = "cdc"

    name: str
    _: KW_ONLY
    table: str
    batch_source: DeltaSource
    timestamp_column: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        what = f"{type(self).__name__} {self.name!r}"
        check_name(self.name, what=f"{type(self).__name__} name")
        parts = self.table.split(".") if isinstance(self.table, str) else []
        if not 1 <= len(parts) <= 2:
            raise DefinitionError(f"{what}.table: expected {_QUALIFIED}, got {self.table!r}.")
        for part in parts:
            check_name(part, what=f"{what}.table")
        if not isinstance(self.batch_source, DeltaSource):
            raise DefinitionError(
                f"{what}.batch_source: expected a DeltaSource (change events are appended "
                f"to it once per position), got {self.batch_source!r}."
            )
        if self.timestamp_column is not None:
            check_name(self.timestamp_column, what=f"{what}.timestamp_column")
        check_text(self.description, what=f"{what}.description")

    @property
    def schema_name(self) -> str | None:
        """The schema (PostgreSQL) or database (MySQL) part of ``table``, if given."""
        return self.table.split(".")[0] if "." in self.table else None

    @property
    def table_name(self) -> str:
        """The table name without its schema."""
        return self.table.rsplit(".", 1)[-1]

    @property
    def timestamp_field(self) -> str:
        """Event timestamp column of the batch source (the commit time lands there)."""
        return self.batch_source.timestamp_field

    @property
    def created_timestamp_field(self) -> str | None:
        """Created timestamp column of the batch source."""
        return self.batch_source.created_timestamp_field

    @property
    def field_mapping(self) -> Mapping[str, str]:
        """Field mapping of the batch source."""
        return self.batch_source.field_mapping

    def column_for(self, feature_name: str) -> str:
        """The batch source column that holds ``feature_name``."""
        return self.batch_source.column_for(feature_name)

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the source."""
        return {
            "type": self.kind,
            "name": self.name,
            "table": self.table,
            "batch_source": self.batch_source.to_dict(),
            "timestamp_column": self.timestamp_column,
            "description": self.description,
        }


@dataclass(frozen=True)
class PostgresCDCSource(CDCSource):
    """A PostgreSQL table captured through logical replication (see :mod:`parity.cdc`).

    Example:
        >>> src = PostgresCDCSource("orders_cdc", table="public.orders",
        ...                         batch_source=DeltaSource("data/orders", timestamp_field="ts"))
        >>> src.to_dict()["type"], src.table_name
        ('postgres_cdc', 'orders')
    """

    kind: ClassVar[str] = "postgres_cdc"


@dataclass(frozen=True)
class MySQLCDCSource(CDCSource):
    """A MySQL or MariaDB table captured through the row-format binlog.

    Example:
        >>> MySQLCDCSource("orders_cdc", table="shop.orders",
        ...                batch_source=DeltaSource("data/orders", timestamp_field="ts")).kind
        'mysql_cdc'
    """

    kind: ClassVar[str] = "mysql_cdc"


Source = ParquetSource | DeltaSource | PushSource | PostgresCDCSource | MySQLCDCSource


def source_from_dict(data: Mapping[str, Any]) -> Source:
    """Rebuild a source from its canonical form."""
    kind = data["type"]
    cdc_classes: dict[str, type[PostgresCDCSource] | type[MySQLCDCSource]] = {
        "postgres_cdc": PostgresCDCSource,
        "mysql_cdc": MySQLCDCSource,
    }
    if kind in cdc_classes:
        delta = source_from_dict(data["batch_source"])
        assert isinstance(delta, DeltaSource)
        return cdc_classes[kind](
            data["name"],
            table=data["table"],
            batch_source=delta,
            timestamp_column=data.get("timestamp_column"),
            description=data.get("description", ""),
        )
    if kind == "push":
        batch = source_from_dict(data["batch_source"])
        assert isinstance(batch, ParquetSource | DeltaSource)
        return PushSource(data["name"], batch_source=batch, description=data.get("description", ""))
    classes: dict[str, type[ParquetSource] | type[DeltaSource]] = {
        "parquet": ParquetSource,
        "delta": DeltaSource,
    }
    cls = classes[kind]
    return cls(
        data["path"],
        timestamp_field=data["timestamp_field"],
        created_timestamp_field=data.get("created_timestamp_field"),
        field_mapping=data.get("field_mapping", {}),
        description=data.get("description", ""),
    )
