"""Spark DataFrame builders for the point-in-time join and windowed aggregations.

The semantics are those of :mod:`parity.offline.point_in_time` and
:mod:`parity.offline.aggregations`; only the formulation differs, because Spark has no
ASOF join. Each view is one union-and-window pass:

- Point in time: the entity rows ("probes", one per entity row) are unioned with the
  view's rows, partitioned by the join keys and ordered by ``(visible time, probe last)``.
  A feature row is visible from its event time (``event`` mode) or from
  ``max(event, created)`` (``available`` mode). A running ``max`` over
  ``struct(event_us, created_us, features...)`` then gives each probe the visible row with
  the greatest ``(event, created)``: the created-time tie-break is part of the comparison
  (a missing created time sorts lowest), and exact duplicates resolve to the greatest
  payload, so the result never depends on partitioning. The ttl test
  (``event >= t - ttl``) applies to the chosen row, as on DuckDB.
- Aggregations: the distinct probes ``(keys, t)`` are unioned with the raw events of the
  probed keys, and one window function per aggregation runs over
  ``RANGE BETWEEN window - 1 PRECEDING AND CURRENT ROW`` of integer microseconds.
  ``count_distinct`` is ``size(collect_set(...))`` (Spark has no DISTINCT window
  aggregate); ``last`` is the ``max`` of ``struct(t, value)``.

Each view yields ``(row number, features...)``; the engine joins them back to the entity
rows by row number and orders by it. Nothing is collected to the driver.

Example:
    >>> from parity.types import Float64, Vector
    >>> spark_type(Float64), spark_type(Vector(4))
    ('DOUBLE', 'ARRAY<FLOAT>')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from parity.definitions import Aggregation, AggregationFunction
from parity.offline.aggregations import input_columns
from parity.offline.base import PointInTime, ViewReadSpec
from parity.offline.entity_frame import ROW_COLUMN
from parity.types import DType

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

PROBE_TIME = "__parity_t"
_PROBE = "__parity_probe"
_VISIBLE = "__parity_vis"
_CHOSEN = "__parity_v"
_MIN_I64 = -(2**63)


def spark_type(dtype: DType) -> str:
    """The Spark SQL type (DDL) that holds ``dtype``.

    Example:
        >>> from parity.types import Int64
        >>> spark_type(Int64)
        'BIGINT'
    """
    simple = {
        "int32": "INT",
        "int64": "BIGINT",
        "float32": "FLOAT",
        "float64": "DOUBLE",
        "bool": "BOOLEAN",
        "string": "STRING",
        "bytes": "BINARY",
        "timestamp": "TIMESTAMP",
    }
    if dtype.kind in ("list", "vector"):
        assert dtype.element is not None
        return f"ARRAY<{spark_type(dtype.element)}>"
    return simple[dtype.kind]


def column(name: str) -> Column:
    """A column by its exact name (dots and backticks are not syntax).

    Example:
        >>> column("a.b")  # doctest: +SKIP
        Column<'`a.b`'>
    """
    from pyspark.sql import functions as sf

    return sf.col("`" + name.replace("`", "``") + "`")


def key_alias(index: int) -> str:
    """Internal name of a join key column inside a view's union."""
    return f"__parity_k{index}"


def with_probe_time(entities: DataFrame, timestamp_column: str) -> DataFrame:
    """The entity rows with their probe time in microseconds since the epoch."""
    from pyspark.sql import functions as sf

    return entities.withColumn(PROBE_TIME, sf.unix_micros(column(timestamp_column)))


def _probe_keys(spec: ViewReadSpec) -> list[Column]:
    return [
        column(k.name).cast(spark_type(k.dtype)).alias(key_alias(n))
        for n, k in enumerate(spec.join_keys)
    ]


def _source_keys(spec: ViewReadSpec) -> list[Column]:
    return [
        column(k.source_column).cast(spark_type(k.dtype)).alias(key_alias(n))
        for n, k in enumerate(spec.join_keys)
    ]


def point_in_time_matches(
    entities: DataFrame, spec: ViewReadSpec, source: DataFrame, *, mode: PointInTime
) -> DataFrame:
    """``(row number, output features...)`` of one plain view, for every entity row.

    ``entities`` carries :data:`ROW_COLUMN` and :data:`PROBE_TIME`.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    src = spec.source
    event = sf.unix_micros(column(src.timestamp_field))
    created = (
        sf.unix_micros(column(src.created_timestamp_field))
        if src.created_timestamp_field is not None
        else sf.lit(None).cast("BIGINT")
    )
    visible = event if mode == "event" else sf.greatest(event, sf.coalesce(created, event))
    payload = sf.struct(
        event.alias("e"),
        sf.coalesce(created, sf.lit(_MIN_I64)).alias("c"),
        *(
            column(f.source_column).cast(spark_type(f.dtype)).alias(f"f{n}")
            for n, f in enumerate(spec.features)
        ),
    )
    keys = [key_alias(n) for n in range(len(spec.join_keys))]
    present = column(src.timestamp_field).isNotNull()
    for k in spec.join_keys:
        present = present & column(k.source_column).isNotNull()
    rows = source.where(present).select(
        *_source_keys(spec),
        visible.alias(_VISIBLE),
        sf.lit(0).alias(_PROBE),
        sf.lit(None).cast("BIGINT").alias(ROW_COLUMN),
        payload.alias(_CHOSEN),
    )
    probes = entities.select(
        *_probe_keys(spec),
        sf.col(PROBE_TIME).alias(_VISIBLE),
        sf.lit(1).alias(_PROBE),
        sf.col(ROW_COLUMN),
        sf.lit(None).cast(rows.schema[_CHOSEN].dataType).alias(_CHOSEN),
    )
    window = (
        Window.partitionBy(*keys)
        .orderBy(sf.col(_VISIBLE).asc_nulls_first(), sf.col(_PROBE))
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    chosen = (
        rows.unionByName(probes)
        .withColumn("__parity_m", sf.max(_CHOSEN).over(window))
        .where(sf.col(_PROBE) == 1)
    )
    features = []
    for n, feature in enumerate(spec.features):
        value = sf.col(f"__parity_m.f{n}")
        if spec.ttl is not None:
            ttl_us = spec.ttl.days * 86_400_000_000 + spec.ttl.seconds * 1_000_000
            ttl_us += spec.ttl.microseconds
            value = sf.when(sf.col("__parity_m.e") >= sf.col(_VISIBLE) - sf.lit(ttl_us), value)
        features.append(value.alias(feature.output_name))
    return chosen.select(sf.col(ROW_COLUMN), *features)


def _aggregate(agg: Aggregation, value: str, window: object) -> Column:
    from pyspark.sql import functions as sf

    c = sf.col(value)
    function = AggregationFunction(agg.function)
    if function is AggregationFunction.LAST:
        # The newest event; ties on time go to the greatest value (order independent).
        latest = sf.when(c.isNotNull(), sf.struct(sf.col(PROBE_TIME).alias("t"), c.alias("v")))
        return sf.max(latest).over(window).getField("v")  # type: ignore[arg-type]
    if function is AggregationFunction.COUNT_DISTINCT:
        return sf.size(sf.collect_set(c).over(window))  # type: ignore[arg-type]
    build = {
        AggregationFunction.COUNT: sf.count,
        AggregationFunction.SUM: sf.sum,
        AggregationFunction.MEAN: sf.avg,
        AggregationFunction.MIN: sf.min,
        AggregationFunction.MAX: sf.max,
    }[function]
    return build(c).over(window)  # type: ignore[arg-type]


def aggregation_matches(
    entities: DataFrame,
    spec: ViewReadSpec,
    events: DataFrame,
    *,
    probe_range: tuple[int, int] | None,
) -> DataFrame:
    """``(row number, aggregates...)`` of one aggregation view, for every entity row.

    ``probe_range``: earliest and latest probe instants (microseconds); events outside
    ``(earliest - longest window, latest]`` are skipped at the scan, as on DuckDB.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    keys = [key_alias(n) for n in range(len(spec.join_keys))]
    inputs = input_columns(spec)
    index = {c.source_column: n for n, c in enumerate(inputs)}
    not_null = sf.col(PROBE_TIME).isNotNull()
    for k in keys:
        not_null = not_null & sf.col(k).isNotNull()
    probe_rows = entities.select(*_probe_keys(spec), sf.col(PROBE_TIME), sf.col(ROW_COLUMN))
    probes = probe_rows.select(*keys, PROBE_TIME).where(not_null).distinct()
    ts = column(spec.source.timestamp_field)
    scan = ts.isNotNull()
    if probe_range is not None:
        longest = max(int(a.window_us) for a in spec.aggregations)
        lo, hi = probe_range
        at = sf.unix_micros(ts)
        scan = scan & (at > sf.lit(lo - longest)) & (at <= sf.lit(hi))
    values = [
        column(c.source_column).cast(spark_type(c.dtype)).alias(f"__parity_c{n}")
        for n, c in enumerate(inputs)
    ]
    ev = (
        events.where(scan)
        .select(*_source_keys(spec), sf.unix_micros(ts).alias(PROBE_TIME), *values)
        .join(probes.select(*keys).distinct(), on=keys, how="left_semi")
        .withColumn(_PROBE, sf.lit(False))
    )
    nulls = [
        sf.lit(None).cast(spark_type(c.dtype)).alias(f"__parity_c{n}") for n, c in enumerate(inputs)
    ]
    union = ev.unionByName(probes.select(*keys, PROBE_TIME, *nulls, sf.lit(True).alias(_PROBE)))
    outputs = []
    for agg in spec.aggregations:
        window = (
            Window.partitionBy(*keys)
            .orderBy(PROBE_TIME)
            .rangeBetween(-(int(agg.window_us) - 1), Window.currentRow)
        )
        value = _aggregate(agg, f"__parity_c{index[agg.column]}", window)
        outputs.append(value.cast(spark_type(agg.output_dtype)).alias(agg.name))
    probed = union.select(*keys, PROBE_TIME, _PROBE, *outputs).where(sf.col(_PROBE)).drop(_PROBE)
    joined = probe_rows.join(probed, on=[*keys, PROBE_TIME], how="left")
    return joined.select(
        sf.col(ROW_COLUMN),
        *(sf.col(f.source_column).alias(f.output_name) for f in spec.features),
    )


def training_frame(
    entities: DataFrame,
    entity_columns: Sequence[str],
    matches: Sequence[DataFrame],
) -> DataFrame:
    """The entity rows (every column, and the row number) with each view's features."""
    out = entities
    for match in matches:
        out = out.join(match, on=ROW_COLUMN, how="left")
    features = [name for match in matches for name in match.columns if name != ROW_COLUMN]
    return out.select(*(column(c) for c in entity_columns), *(column(f) for f in features))
