"""Entity frames: normalising the caller's frame and checking it against the view specs.

An entity frame is a pandas, Arrow or Polars frame, a Parquet path, or a SQL query string.
In-memory frames become one Arrow table with a row-number column; paths and queries are
left to the engine, which checks their Arrow schema with the same function.

Example:
    >>> import pyarrow as pa
    >>> from datetime import datetime, timezone
    >>> frame = pa.table({"user_id": [1],
    ...                   "event_timestamp": [datetime(2026, 1, 1, tzinfo=timezone.utc)]})
    >>> check_entity_schema(frame.schema, [], timestamp_column="event_timestamp")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from parity.errors import NaiveTimestampError, SchemaMismatch, did_you_mean
from parity.offline.base import EntityInput, ViewReadSpec
from parity.types import DType

if TYPE_CHECKING:
    import pyarrow as pa

ROW_COLUMN = "__parity_row"


def entity_kind(entity_df: EntityInput) -> str:
    """``'frame'``, ``'parquet'`` or ``'sql'``: how the engine should read ``entity_df``.

    Example:
        >>> entity_kind("SELECT * FROM labels")
        'sql'
    """
    if isinstance(entity_df, Path):
        return "parquet"
    if isinstance(entity_df, str):
        text = entity_df.strip()
        if text.lower().endswith(".parquet") or (Path(text).exists() and "\n" not in text):
            return "parquet"
        return "sql"
    return "frame"


def frame_to_arrow(entity_df: object) -> pa.Table:
    """A pandas, Arrow or Polars frame as an Arrow table (zero-copy where possible).

    Example:
        >>> import pandas as pd
        >>> frame_to_arrow(pd.DataFrame({"a": [1]})).num_rows
        1
    """
    import pyarrow as pa

    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pa.RecordBatch):
        return pa.Table.from_batches([entity_df])
    module = type(entity_df).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    if module == "polars":
        table: pa.Table = entity_df.to_arrow()  # type: ignore[attr-defined]
        return table
    raise SchemaMismatch(
        f"entity_df: unsupported type {type(entity_df).__name__}. Pass a pandas, Arrow or "
        "Polars frame, a Parquet path, or a SQL query string."
    )


def number_rows(table: pa.Table) -> pa.Table:
    """Append the row-number column that keeps the output in input order.

    Example:
        >>> import pyarrow as pa
        >>> number_rows(pa.table({"a": [5, 6]})).column(ROW_COLUMN).to_pylist()
        [0, 1]
    """
    import pyarrow as pa

    if ROW_COLUMN in table.column_names:
        raise SchemaMismatch(
            f"entity_df has a column named {ROW_COLUMN!r}, which parity reserves. Rename it."
        )
    return table.append_column(ROW_COLUMN, pa.array(range(table.num_rows), pa.int64()))


def same_family(arrow_type: pa.DataType, dtype: DType) -> bool:
    """True if ``arrow_type`` is the string, bytes, bool or tz-aware timestamp family of ``dtype``.

    Example:
        >>> import pyarrow as pa
        >>> from parity.types import String
        >>> same_family(pa.large_string(), String)
        True
    """
    import pyarrow as pa

    if dtype.kind == "string":
        return bool(
            pa.types.is_string(arrow_type)
            or pa.types.is_large_string(arrow_type)
            or pa.types.is_string_view(arrow_type)
        )
    if dtype.kind == "bytes":
        return bool(
            pa.types.is_binary(arrow_type)
            or pa.types.is_large_binary(arrow_type)
            or pa.types.is_binary_view(arrow_type)
        )
    if dtype.kind == "bool":
        return bool(pa.types.is_boolean(arrow_type))
    if dtype.kind == "timestamp":
        return bool(pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None)
    return False


def _key_type_fits(arrow_type: pa.DataType, dtype: DType) -> bool:
    import pyarrow as pa

    if dtype.is_integer:
        return bool(pa.types.is_integer(arrow_type))
    return same_family(arrow_type, dtype)


def check_timestamp_column(schema: pa.Schema, column: str, *, where: str, fix: str) -> None:
    """Raise unless ``column`` exists in ``schema`` and is a tz-aware timestamp.

    Example:
        >>> import pyarrow as pa
        >>> check_timestamp_column(pa.schema([("ts", pa.timestamp("us"))]), "ts",
        ...                        where="entity_df", fix="localize it")
        Traceback (most recent call last):
        ...
        parity.errors.NaiveTimestampError: entity_df column 'ts' is a naive timestamp ...
    """
    import pyarrow as pa

    if column not in schema.names:
        raise SchemaMismatch(
            f"{where} has no timestamp column {column!r}.{did_you_mean(column, schema.names)} "
            f"Columns: {', '.join(schema.names)}."
        )
    arrow_type = schema.field(column).type
    if not pa.types.is_timestamp(arrow_type):
        raise SchemaMismatch(
            f"{where} column {column!r} has type {arrow_type}, expected a timezone-aware "
            f"timestamp. {fix}"
        )
    if arrow_type.tz is None:
        raise NaiveTimestampError(
            f"{where} column {column!r} is a naive timestamp ({arrow_type}, no time zone); "
            f"parity never guesses the zone. {fix}"
        )


def check_entity_schema(
    schema: pa.Schema, specs: Sequence[ViewReadSpec], *, timestamp_column: str
) -> None:
    """Check an entity frame schema: timestamp column, join keys and output name clashes.

    Example:
        >>> import pyarrow as pa
        >>> check_entity_schema(pa.schema([("user_id", pa.int64())]), [],
        ...                     timestamp_column="event_timestamp")
        Traceback (most recent call last):
        ...
        parity.errors.SchemaMismatch: entity_df has no timestamp column 'event_timestamp'. ...
    """
    check_timestamp_column(
        schema,
        timestamp_column,
        where="entity_df",
        fix=(
            f"Make it UTC-aware, e.g. df[{timestamp_column!r}] = "
            f"pd.to_datetime(df[{timestamp_column!r}], utc=True), or pass "
            "timestamp_column='<your column>'."
        ),
    )
    taken = {name: "entity_df" for name in schema.names}
    for spec in specs:
        for key in spec.join_keys:
            if key.name not in schema.names:
                raise SchemaMismatch(
                    f"entity_df has no join key column {key.name!r} needed by view {spec.ref}."
                    f"{did_you_mean(key.name, schema.names)} Columns: {', '.join(schema.names)}."
                )
            arrow_type = schema.field(key.name).type
            if not _key_type_fits(arrow_type, key.dtype):
                raise SchemaMismatch(
                    f"entity_df join key {key.name!r} has type {arrow_type}, but view "
                    f"{spec.ref} declares it {key.dtype.name}. Cast the column, e.g. "
                    f"df[{key.name!r}] = df[{key.name!r}].astype({_pandas_hint(key.dtype)!r})."
                )
        for output in spec.output_columns:
            if output in taken:
                raise SchemaMismatch(
                    f"output column {output!r} of view {spec.ref} clashes with a column of "
                    f"{taken[output]}. Rename it with output_names={{{output!r}: "
                    f"'{spec.name}__{output}'}} in ViewReadSpec.from_view."
                )
            taken[output] = f"view {spec.ref}"


def _pandas_hint(dtype: DType) -> str:
    return {"int32": "int32", "int64": "int64", "string": "string", "bool": "bool"}.get(
        dtype.kind, dtype.name
    )
