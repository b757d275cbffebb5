"""An optional engine capability: run a task on each partition of a view's source rows.

An engine that computes on a cluster (Spark) declares :class:`PartitionedSourceRows`; the
sync controller then hands it a :class:`PartitionTask` and the work happens where the
rows are: the engine reads the sync window (the same canonical columns and bounds as
:func:`parity.offline.changes.read_source_rows`), shuffles so that every row of one entity
lands in one partition, in read order, and calls the task once per partition on the
executors. Only the task's small per-partition outputs come back to the caller, so the
rows themselves never pass through the driver.

Engines without the capability (DuckDB) simply do not inherit the mixin; callers check
``isinstance(engine, PartitionedSourceRows)``.

Example:
    >>> from parity.offline.duckdb import DuckDBOfflineEngine
    >>> issubclass(DuckDBOfflineEngine, PartitionedSourceRows)
    False
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.offline.base import ViewReadSpec
    from parity.offline.source_scan import TableRead

__all__ = ["PartitionTask", "PartitionedSourceRows"]


class PartitionTask(Protocol):
    """Work done on one partition of source rows, on an executor.

    It must be picklable (it is shipped to the executors) and open whatever it writes to
    inside the call (one connection per partition). ``rows`` holds every row of the
    partition's entities in read order; the result is a small table in
    ``output_schema``.

    Example:
        >>> import pyarrow as pa
        >>> class CountRows:
        ...     output_schema = pa.schema([("rows", pa.int64())])
        ...     def __call__(self, rows: pa.Table, /) -> pa.Table:
        ...         return pa.table({"rows": [rows.num_rows]}, schema=self.output_schema)
        >>> CountRows()(pa.table({"x": [1, 2]})).column("rows").to_pylist()
        [2]
    """

    @property
    def output_schema(self) -> pa.Schema:
        """The schema of every partition's result."""
        ...

    def __call__(self, rows: pa.Table, /) -> pa.Table: ...


class PartitionedSourceRows(abc.ABC):
    """Capability mixin: the engine runs a :class:`PartitionTask` on each partition of a
    view version's source rows, partitioned by the join keys.

    Example:
        >>> from parity.offline.spark import SparkOfflineEngine
        >>> issubclass(SparkOfflineEngine, PartitionedSourceRows)
        True
    """

    @abc.abstractmethod
    def map_source_partitions(
        self,
        spec: ViewReadSpec,
        /,
        *,
        bounds: Mapping[str, datetime],
        task: PartitionTask,
    ) -> tuple[pa.Table, TableRead]:
        """Run ``task`` on every partition of the rows of ``spec`` within ``bounds`` (keys
        as in :func:`parity.offline.changes.source_rows_query`: ``start``, ``end``,
        ``written_after``, ``written_before``; written-time bounds apply only when the
        source has a created timestamp) and return the concatenated task outputs and what
        was read. ``spec`` must not be an aggregation view.
        """
