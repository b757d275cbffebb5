"""Saved datasets: a training frame on disk with the lineage that rebuilds it.

A saved dataset lives in ``<offline path>/datasets/<name>/``: ``data.parquet`` (the frame),
``entities.parquet`` (the entity frame it was built from) and ``lineage.json``: views and
versions, the entity frame fingerprint, the Delta table version or Parquet file digests
each view read, the row count, the point-in-time mode and when it was created. Rebuilding
reads the recorded Delta versions (time travel), so later appends do not change it.

Example:
    >>> ds = engine.get_saved_dataset("churn_train")  # doctest: +SKIP
    >>> ds.lineage.views  # doctest: +SKIP
    (('user_stats', 1),)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import DefinitionError, ObjectNotFound, did_you_mean
from parity.storage import DATASETS_DIR

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa


LINEAGE_FILE = "lineage.json"
DATA_FILE = "data.parquet"
ENTITIES_FILE = "entities.parquet"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Lineage:
    """Where a saved dataset came from, enough to rebuild it exactly.

    Example:
        >>> Lineage.from_dict({"name": "d", "views": [["v", 1]], "specs": [],
        ...     "entity_fingerprint": "x", "reads": [], "row_count": 0,
        ...     "point_in_time": "event", "timestamp_column": "event_timestamp",
        ...     "created_at": "2026-01-01T00:00:00+00:00"}).views
        (('v', 1),)
    """

    name: str
    views: tuple[tuple[str, int], ...]
    specs: tuple[Mapping[str, Any], ...]
    entity_fingerprint: str
    reads: tuple[Mapping[str, Any], ...]
    row_count: int
    point_in_time: str
    timestamp_column: str
    created_at: str
    # The service's row transforms applied after the join (their code fingerprints).
    transforms: Mapping[str, Any] | None = None
    # The offline engine that built it ("duckdb", "spark"); either engine rebuilds it.
    engine: str = "duckdb"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``lineage.json``."""
        extra = {} if self.transforms is None else {"transforms": dict(self.transforms)}
        return {
            "name": self.name,
            "views": [list(v) for v in self.views],
            "specs": [dict(s) for s in self.specs],
            "entity_fingerprint": self.entity_fingerprint,
            "reads": [dict(r) for r in self.reads],
            "row_count": self.row_count,
            "point_in_time": self.point_in_time,
            "timestamp_column": self.timestamp_column,
            "created_at": self.created_at,
            "engine": self.engine,
            **extra,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        """Read the JSON form back."""
        return cls(
            name=data["name"],
            views=tuple((str(n), int(v)) for n, v in data["views"]),
            specs=tuple(data["specs"]),
            entity_fingerprint=data["entity_fingerprint"],
            reads=tuple(data["reads"]),
            row_count=int(data["row_count"]),
            point_in_time=data["point_in_time"],
            timestamp_column=data["timestamp_column"],
            created_at=data["created_at"],
            transforms=data.get("transforms"),
            engine=data.get("engine", "duckdb"),
        )


@dataclass(frozen=True)
class SavedDataset:
    """A saved training frame and its lineage.

    Example:
        >>> engine.get_saved_dataset("churn_train").to_pandas().shape  # doctest: +SKIP
        (1000, 7)
    """

    name: str
    path: Path
    lineage: Lineage

    def to_arrow(self) -> pa.Table:
        """The saved frame as an Arrow table."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path / DATA_FILE)

    def to_pandas(self) -> pd.DataFrame:
        """The saved frame as a pandas frame."""
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def to_polars(self) -> pl.DataFrame:
        """The saved frame as a Polars frame."""
        import polars as pl

        return pl.read_parquet(self.path / DATA_FILE)

    def entities(self) -> pa.Table:
        """The entity frame the dataset was built from, in its original row order."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path / ENTITIES_FILE)


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a valid saved dataset name; raise otherwise.

    Example:
        >>> check_dataset_name("churn_2026-01")
        'churn_2026-01'
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"Saved dataset name {name!r} is invalid: use letters, digits, '_', '-' or '.', "
            "starting with a letter, digit or '_' (at most 128 characters)."
        )
    return name


def datasets_root(offline_path: Path) -> Path:
    """The folder that holds all saved datasets of an offline store."""
    return offline_path / DATASETS_DIR


def load_saved_dataset(offline_path: Path, name: str) -> SavedDataset:
    """Read a saved dataset; a helpful error names close matches.

    Example:
        >>> load_saved_dataset(Path("data/offline"), "churn").lineage.row_count  # doctest: +SKIP
        1000
    """
    folder = datasets_root(offline_path) / check_dataset_name(name)
    lineage_file = folder / LINEAGE_FILE
    if not lineage_file.is_file():
        root = datasets_root(offline_path)
        known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise ObjectNotFound(
            f"No saved dataset {name!r} under {str(root)!r}.{did_you_mean(name, known)} "
            f"Saved datasets: {', '.join(known) or '(none)'}. Create one with job.save(name)."
        )
    lineage = Lineage.from_dict(json.loads(lineage_file.read_text()))
    return SavedDataset(name=name, path=folder, lineage=lineage)


def entity_fingerprint(entities_file: Path, *, row_column: str) -> str:
    """The order-sensitive content hash of a saved entity frame, as the DuckDB engine
    computes it for its entity relation (so both engines fingerprint a frame alike);
    ``row_column`` names the row number column the engines add to entity frames.

    Example:
        >>> entity_fingerprint(Path("datasets/churn/entities.parquet"),  # doctest: +SKIP
        ...                    row_column="__parity_row")
        'duckdb-hash:rows=3:sum=...'
    """
    import duckdb

    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        ((rows, digest),) = conn.execute(
            "SELECT count(*), sum(hash(t)) FROM (SELECT * EXCLUDE (file_row_number), "
            f'file_row_number AS "{row_column}" FROM read_parquet($f, file_row_number = true)) t',
            {"f": str(entities_file)},
        ).fetchall()
    return f"duckdb-hash:rows={rows}:sum={digest or 0}"
