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


Source = ParquetSource | DeltaSource | PushSource


def source_from_dict(data: Mapping[str, Any]) -> Source:
    """Rebuild a source from its canonical form."""
    kind = data["type"]
    if kind == "push":
        batch = source_from_dict(data["batch_source"])
        assert not isinstance(batch, PushSource)
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
