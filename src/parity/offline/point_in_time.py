"""SQL builders for the point-in-time join, one small function per part of the query.

The join is one DuckDB query: the entity relation ASOF LEFT JOINed to one prepared
relation per view, ordered by the entity row number. Identifiers are quoted; values
(ttls) are named parameters. All times compare as integer microseconds since the epoch.

``event`` mode: each feature row gets a 128-bit order key ``event_us * 2**64 + created_us``
(a missing created time sorts lowest), and the entity row probes with
``t_us * 2**64 + max``. ASOF then returns, per key, the row with the greatest
``(event, created)`` whose event time is ``<= t``: the tie-break is part of the join, no
deduplication pass is needed.

``available`` mode: a row exists from ``available = max(event, created)``. The row
visible at ``t`` is the greatest ``(event, created)`` among rows with
``available <= t``, a running maximum over rows ordered by ``available``; only rows that
set a new maximum ("leaders") can ever be chosen, so the view keeps its leaders and ASOF
probes ``available <= t``.

In both modes the ttl test (``event >= t - ttl``) is applied to the chosen row only: an
older row can never pass it when the newest visible one fails.

Example:
    >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
    >>> from parity.types import Float64, Int64
    >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("parquet", "s.parquet", "ts"),
    ...                     (JoinKey("user_id", Int64),), (FeatureColumn("x", "x", Float64),))
    >>> sql = point_in_time_query(["user_id", "event_timestamp"], [spec],
    ...     sources=[SourceRelation("read_parquet($files_0)")], mode="event",
    ...     timestamp_column="event_timestamp")
    >>> sql.endswith('ORDER BY m."__parity_row"')
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from parity.offline.base import PointInTime, ViewReadSpec
from parity.offline.entity_frame import ROW_COLUMN
from parity.types import DType

ENTITY_RELATION = "__parity_entities"
_MAX_I64 = "9223372036854775807"
_MIN_I64 = "(-9223372036854775807 - 1)"
_ONE_US = timedelta(microseconds=1)
# A multiplication, not ``<< 64``: DuckDB refuses to shift negative (pre-1970) times.
_TWO_64 = "CAST(18446744073709551616 AS HUGEINT)"


def quote(identifier: str) -> str:
    """A DuckDB-quoted identifier.

    Example:
        >>> quote('a"b')
        '"a""b"'
    """
    return '"' + identifier.replace('"', '""') + '"'


def duckdb_type(dtype: DType) -> str:
    """The DuckDB type that holds ``dtype``.

    Example:
        >>> from parity.types import Vector
        >>> duckdb_type(Vector(4))
        'FLOAT[4]'
    """
    simple = {
        "int32": "INTEGER",
        "int64": "BIGINT",
        "float32": "FLOAT",
        "float64": "DOUBLE",
        "bool": "BOOLEAN",
        "string": "VARCHAR",
        "bytes": "BLOB",
        "timestamp": "TIMESTAMPTZ",
    }
    if dtype.kind == "list":
        assert dtype.element is not None
        return f"{duckdb_type(dtype.element)}[]"
    if dtype.kind == "vector":
        assert dtype.element is not None
        return f"{duckdb_type(dtype.element)}[{dtype.size}]"
    return simple[dtype.kind]


def epoch_us(column_sql: str) -> str:
    """Microseconds since the epoch of a timestamp expression.

    Nanosecond inputs truncate (towards the past) to the microsecond, never round: an
    entity row at ``10:00:00.0000009`` must not see a feature row at ``10:00:00.000001``.
    """
    return f"epoch_us(date_trunc('microseconds', {column_sql}))"


def feature_alias(view_index: int, feature_index: int) -> str:
    """Internal, clash-free name of a feature column inside the query."""
    return f"__parity_f{view_index}_{feature_index}"


def key_alias(view_index: int, key_index: int) -> str:
    """Internal name of a join key column inside a view relation."""
    return f"__parity_k{view_index}_{key_index}"


def entity_relation_sql(timestamp_column: str) -> str:
    """The entity rows with their probe time in microseconds."""
    return f"SELECT *, {epoch_us(quote(timestamp_column))} AS __parity_t FROM {ENTITY_RELATION}"


@dataclass(frozen=True)
class SourceRelation:
    """A view's rows as a SQL relation; ``row_id`` columns identify a row within it.

    With a row id the join sorts only keys, times and row ids, and fetches the feature
    columns of the chosen rows afterwards (late materialisation).

    Example:
        >>> SourceRelation("read_parquet($files_0, file_row_number = true)",
        ...                row_id=("file_row_number",)).row_id
        ('file_row_number',)
    """

    sql: str
    row_id: tuple[str, ...] = ()


def _order_columns(spec: ViewReadSpec) -> list[str]:
    src = spec.source
    event = epoch_us(quote(src.timestamp_field))
    created = (
        epoch_us(quote(src.created_timestamp_field))
        if src.created_timestamp_field is not None
        else "NULL::BIGINT"
    )
    return [
        f"CAST({event} AS HUGEINT) * {_TWO_64} + coalesce({created}, {_MIN_I64}) AS __parity_order",
        f"greatest({event}, coalesce({created}, {event})) AS __parity_avail",
    ]


def _payload_columns(spec: ViewReadSpec, index: int) -> list[str]:
    event = epoch_us(quote(spec.source.timestamp_field))
    return [f"{event} AS __parity_ets_{index}"] + [
        f"CAST({quote(f.source_column)} AS {duckdb_type(f.dtype)}) AS {feature_alias(index, n)}"
        for n, f in enumerate(spec.features)
    ]


def row_id_alias(view_index: int, column_index: int) -> str:
    """Internal name of a row-id column of a view relation."""
    return f"__parity_r{view_index}_{column_index}"


def view_columns_sql(spec: ViewReadSpec, index: int, source: SourceRelation) -> str:
    """One view's rows for the ASOF join: cast keys, order key, availability time, then the
    row id (late materialisation) or else the payload (event time and features)."""
    columns = [
        f"CAST({quote(k.source_column)} AS {duckdb_type(k.dtype)}) AS {key_alias(index, n)}"
        for n, k in enumerate(spec.join_keys)
    ]
    columns += _order_columns(spec)
    if source.row_id:
        columns += [f"{quote(c)} AS {row_id_alias(index, n)}" for n, c in enumerate(source.row_id)]
    else:
        columns += _payload_columns(spec, index)
    return (
        f"SELECT {', '.join(columns)} FROM {source.sql} "
        f"WHERE {quote(spec.source.timestamp_field)} IS NOT NULL"
    )


def payload_sql(spec: ViewReadSpec, index: int, source: SourceRelation) -> str:
    """Late materialisation: row id, event time and features of every row of a view."""
    columns = [f"{quote(c)} AS {row_id_alias(index, n)}" for n, c in enumerate(source.row_id)]
    return f"SELECT {', '.join(columns + _payload_columns(spec, index))} FROM {source.sql}"


def leaders_sql(spec: ViewReadSpec, index: int, rows_relation: str) -> str:
    """``available`` mode: keep the rows that set a new running max of the order key."""
    keys = ", ".join(key_alias(index, n) for n in range(len(spec.join_keys)))
    return (
        "SELECT * EXCLUDE (__parity_lead) FROM ("
        f"SELECT *, max(__parity_order) OVER (PARTITION BY {keys} ORDER BY __parity_avail "
        "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __parity_lead "
        f"FROM {rows_relation}) WHERE __parity_order = __parity_lead"
    )


def asof_join_sql(spec: ViewReadSpec, index: int, mode: PointInTime) -> str:
    """The ASOF LEFT JOIN clause of one view onto the entity relation ``e``."""
    alias = f"v{index}"
    conditions = [
        f"e.{quote(k.name)} = {alias}.{key_alias(index, n)}" for n, k in enumerate(spec.join_keys)
    ]
    if mode == "event":
        conditions.append(
            f"CAST(e.__parity_t AS HUGEINT) * {_TWO_64} + {_MAX_I64} >= {alias}.__parity_order"
        )
    else:
        conditions.append(f"e.__parity_t >= {alias}.__parity_avail")
    return f"ASOF LEFT JOIN {alias} ON {' AND '.join(conditions)}"


def matched_columns_sql(spec: ViewReadSpec, index: int, source: SourceRelation) -> list[str]:
    """What the ASOF step keeps of view ``index``: its row id, or its whole payload."""
    if source.row_id:
        names = [row_id_alias(index, n) for n in range(len(source.row_id))]
    else:
        names = [f"__parity_ets_{index}"]
        names += [feature_alias(index, n) for n in range(len(spec.features))]
    return [f"v{index}.{name}" for name in names]


def payload_join_sql(index: int, source: SourceRelation) -> str:
    """Late materialisation: fetch the chosen rows' payload by row id."""
    conditions = [
        f"m.{row_id_alias(index, n)} = w{index}.{row_id_alias(index, n)}"
        for n in range(len(source.row_id))
    ]
    return f"LEFT JOIN w{index} ON {' AND '.join(conditions)}"


def feature_select_sql(spec: ViewReadSpec, index: int, source: SourceRelation) -> list[str]:
    """The output feature columns of one view, nulled outside the ttl."""
    alias = f"w{index}" if source.row_id else "m"
    out = []
    for n, feature in enumerate(spec.features):
        value = f"{alias}.{feature_alias(index, n)}"
        if spec.ttl is not None:
            value = (
                f"CASE WHEN {alias}.__parity_ets_{index} >= m.__parity_t - $ttl_{index} "
                f"THEN {value} END"
            )
        out.append(f"{value} AS {quote(feature.output_name)}")
    return out


def ttl_params(specs: Sequence[ViewReadSpec]) -> dict[str, Any]:
    """The named ttl parameters (microseconds) used by :func:`feature_select_sql`."""
    params: dict[str, Any] = {}
    for index, spec in enumerate(specs):
        if spec.ttl is not None:
            params[f"ttl_{index}"] = spec.ttl // _ONE_US
    return params


def point_in_time_query(
    entity_columns: Sequence[str],
    specs: Sequence[ViewReadSpec],
    *,
    sources: Sequence[SourceRelation],
    mode: PointInTime,
    timestamp_column: str,
) -> str:
    """The whole point-in-time join: entity columns first, then each view's features.

    Example:
        >>> from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
        >>> from parity.types import Float64, Int64
        >>> spec = ViewReadSpec("user_stats", 1, SourceSpec("parquet", "s.parquet", "ts"),
        ...                     (JoinKey("user_id", Int64),), (FeatureColumn("x", "x", Float64),))
        >>> point_in_time_query(["user_id", "ts"], [spec],
        ...     sources=[SourceRelation("src0")], mode="event", timestamp_column="ts")[:4]
        'WITH'
    """
    pairs = list(zip(specs, sources, strict=True))
    ctes = [f"e AS ({entity_relation_sql(timestamp_column)})"]
    for index, (spec, source) in enumerate(pairs):
        rows = view_columns_sql(spec, index, source)
        if mode == "event":
            ctes.append(f"v{index} AS ({rows})")
        else:
            ctes.append(f"v{index}_rows AS ({rows})")
            ctes.append(f"v{index} AS ({leaders_sql(spec, index, f'v{index}_rows')})")
        if source.row_id:
            ctes.append(f"w{index} AS ({payload_sql(spec, index, source)})")
    matched = ["e.*"]
    for index, (spec, source) in enumerate(pairs):
        matched += matched_columns_sql(spec, index, source)
    asof = " ".join(asof_join_sql(spec, index, mode) for index, spec in enumerate(specs))
    ctes.append(f"m AS (SELECT {', '.join(matched)} FROM e {asof})")
    select = [f"m.{quote(c)}" for c in entity_columns if c != ROW_COLUMN]
    for index, (spec, source) in enumerate(pairs):
        select += feature_select_sql(spec, index, source)
    fetch = " ".join(
        payload_join_sql(index, source) for index, (_, source) in enumerate(pairs) if source.row_id
    )
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM m {fetch} "
        f"ORDER BY m.{quote(ROW_COLUMN)}"
    )
