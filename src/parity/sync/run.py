"""The state of one sync run, filled step by step by :data:`parity.sync.steps.SYNC_STEPS`.

Example:
    >>> PUBLISH_CHUNK_ROWS
    50000
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.definitions import FeatureView
from parity.offline.base import ViewReadSpec
from parity.online.base import OnlineStore, ViewTable
from parity.sync.validate import ValidationResult

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.backends import BackendConfig
    from parity.offline.partitions import PartitionedSourceRows
    from parity.offline.source_scan import TableRead

# (phase, done, total): progress events for a progress bar.
Progress = Callable[[str, int, int], None]

PUBLISH_CHUNK_ROWS = 50_000
# Measured on 2 cores (100k rows per view): see publish().
PUBLISH_THREADS = 2


@dataclass
class SyncRun:
    """The state of one run as it moves through :data:`SYNC_STEPS`."""

    view: FeatureView
    version: int
    spec: ViewReadSpec
    table: ViewTable
    online: OnlineStore
    quarantine_root: Path
    now: datetime
    start: datetime | None = None
    end: datetime | None = None
    written_after: datetime | None = None
    written_before: datetime | None = None
    future_tolerance: timedelta = timedelta(minutes=5)
    progress: Progress | None = None
    chunk_rows: int = PUBLISH_CHUNK_ROWS
    # Called after each published chunk (the controller records the rows written so far,
    # so a run killed mid-publish shows what it wrote).
    chunk_published: Callable[[], None] | None = None
    rows: pa.Table | None = None
    table_read: TableRead | None = None
    validation: ValidationResult | None = None
    latest: pa.Table | None = None
    written: int = 0
    skipped: int = 0
    # Table version the previous successful run read (backfills after it may retract).
    published_version: int | None = None
    retracted: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    # Set when the engine's executors publish (parity.sync.distributed): the engine, the
    # online store's config (each partition opens its own connection), the repository
    # root for relative paths, and the count of rows read (``rows`` is then a sample).
    partitions: PartitionedSourceRows | None = None
    online_config: BackendConfig | None = None
    repo_root: Path | None = None
    read_count: int | None = None

    @property
    def rows_read(self) -> int:
        """Rows read from the source."""
        if self.read_count is not None:
            return self.read_count
        return 0 if self.rows is None else int(self.rows.num_rows)

    def report_progress(self, phase: str, done: int, total: int) -> None:
        """Forward a progress event, if anyone listens."""
        if self.progress is not None:
            self.progress(phase, done, total)
