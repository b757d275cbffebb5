"""Monitoring tables: append-only Parquet folders under ``<offline path>/monitoring/``.

Each table is a folder (``alerts``, ``quality``, ``audits``, ``labels``, ``predictions``)
of Parquet files, one per append, written under a temporary name and renamed, so a
reader never sees half a file and concurrent writers (server workers, a CLI, the sync
controller) never conflict. Reading concatenates the files (DuckDB or Arrow can read the
same folder directly: ``read_parquet('.../monitoring/alerts/*.parquet')``).

Example:
    >>> import tempfile, pyarrow as pa
    >>> root = Path(tempfile.mkdtemp())
    >>> schema = pa.schema([("x", pa.int64())])
    >>> _ = append_records(root, "demo", pa.table({"x": [1, 2]}, schema=schema))
    >>> read_records(root, "demo", schema).num_rows
    2
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from parity.storage import MONITORING_DIR

if TYPE_CHECKING:
    import pyarrow as pa


def monitoring_root(offline_path: Path) -> Path:
    """Where the monitoring tables of an offline store live (``StorageLayout.monitoring_root``
    for a repository's layout).

    Example:
        >>> monitoring_root(Path("data/offline")).as_posix()
        'data/offline/monitoring'
    """
    return offline_path / MONITORING_DIR


def append_records(root: Path, table: str, rows: pa.Table) -> Path | None:
    """Append ``rows`` to the table ``table`` as one new Parquet file; None if empty."""
    import pyarrow.parquet as pq

    if rows.num_rows == 0:
        return None
    folder = root / table
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"part-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
    temporary = folder / f".{name}.tmp"
    pq.write_table(rows, temporary)
    temporary.rename(folder / name)
    return folder / name


def read_records(root: Path, table: str, schema: pa.Schema) -> pa.Table:
    """Every row of a table (empty, with ``schema``, when nothing was written yet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / table
    files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not files:
        return schema.empty_table()
    return pa.concat_tables(
        [pq.read_table(f, schema=schema) for f in files], promote_options="default"
    )


class RecordsTail:
    """Reads only the files a table gained since the last call (a follower, for servers).

    Files are immutable once renamed into place, so a file read once never needs reading
    again: each call costs one directory listing plus the new files.

    Example:
        >>> import tempfile, pyarrow as pa
        >>> root = Path(tempfile.mkdtemp())
        >>> schema = pa.schema([("x", pa.int64())])
        >>> tail = RecordsTail(root, "demo", schema)
        >>> _ = append_records(root, "demo", pa.table({"x": [1]}, schema=schema))
        >>> tail.new_rows().num_rows, tail.new_rows().num_rows
        (1, 0)
    """

    def __init__(self, root: Path, table: str, schema: pa.Schema) -> None:
        self.folder = root / table
        self.schema = schema
        self._seen: set[str] = set()

    def new_rows(self) -> pa.Table:
        """Rows of the files written since the previous call (all of them the first time)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.folder.is_dir():
            return self.schema.empty_table()
        fresh = sorted(f for f in self.folder.glob("part-*.parquet") if f.name not in self._seen)
        if not fresh:
            return self.schema.empty_table()
        tables = [pq.read_table(f, schema=self.schema) for f in fresh]
        self._seen.update(f.name for f in fresh)
        return pa.concat_tables(tables, promote_options="default")
