"""The Spark side of :class:`parity.offline.partitions.PartitionedSourceRows`.

The window of a view's source rows is selected under canonical names with the same
bounds as :func:`parity.offline.changes.source_rows_query`, numbered in read order,
shuffled by the join keys (every row of an entity in one partition) and sorted back into
read order inside each partition; ``mapInArrow`` then hands each partition to the task as
one Arrow table on its executor. Only the task's outputs are collected.

Example:
    >>> outputs, read = engine.map_source_partitions(spec, bounds={}, task=task)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from parity.offline.changes import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from parity.types import require_utc

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

    from parity.offline.base import ViewReadSpec
    from parity.offline.partitions import PartitionTask

# Read order, carried through the shuffle so that exact ties resolve as on one machine.
READ_ORDER = "__parity_read_order"


def window_columns(frame: DataFrame, spec: ViewReadSpec) -> list[Column]:
    """The spec's columns under canonical names (absent nullable columns as nulls)."""
    from pyspark.sql import functions as sf

    present = set(frame.columns)

    def column(source: str, name: str) -> Column:
        return (sf.col(f"`{source}`") if source in present else sf.lit(None)).alias(name)

    columns = [column(k.source_column, k.name) for k in spec.join_keys]
    columns += [column(f.source_column, f.output_name) for f in spec.features]
    columns.append(column(spec.source.timestamp_field, EVENT_TIMESTAMP))
    created = spec.source.created_timestamp_field
    if created is not None:
        columns.append(column(created, CREATED_TIMESTAMP))
    return columns


def window_condition(spec: ViewReadSpec, bounds: Mapping[str, datetime]) -> Column:
    """``[start, end)`` on event time and ``[written_after, written_before)`` on created
    time (only when the source has one), as the local read applies them."""
    from pyspark.sql import functions as sf

    ts, created = sf.col(EVENT_TIMESTAMP), sf.col(CREATED_TIMESTAMP)
    has_created = spec.source.created_timestamp_field is not None
    condition = sf.lit(True)
    for name, value in bounds.items():
        at = sf.lit(require_utc(value, what=name))
        if name == "start":
            condition = condition & (ts >= at)
        elif name == "end":
            condition = condition & (ts < at)
        elif name == "written_after" and has_created:
            condition = condition & (created >= at)
        elif name == "written_before" and has_created:
            condition = condition & (created < at)
    return condition


def map_partitions(
    source: DataFrame,
    spec: ViewReadSpec,
    *,
    bounds: Mapping[str, datetime],
    task: PartitionTask,
) -> pa.Table:
    """Run ``task`` on each entity partition of the window of ``source``; its outputs."""
    from pyspark.sql import functions as sf
    from pyspark.sql.pandas.types import from_arrow_schema

    keys = [k.name for k in spec.join_keys]
    rows = (
        source.select(*window_columns(source, spec))
        .where(window_condition(spec, bounds))
        .withColumn(READ_ORDER, sf.monotonically_increasing_id())
        .repartition(*keys)
        .sortWithinPartitions(READ_ORDER)
    )
    output_schema = task.output_schema

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        listed = list(batches)
        if not listed:
            return
        table = pa.Table.from_batches(listed).drop_columns([READ_ORDER])
        yield from task(table).cast(output_schema).to_batches()

    result = rows.mapInArrow(run, from_arrow_schema(output_schema))
    collected = result.toArrow()
    if collected.num_rows == 0:
        return output_schema.empty_table()
    return collected.cast(output_schema)
