"""One view version's rows as (key bytes, value bytes), shared by every online backend.

:class:`TableCodec` validates a write batch against the :class:`ViewTable` (columns
present, castable to their dtypes, aware timestamps, no null keys), encodes it with
:mod:`parity.online.entity_keys` and :mod:`parity.online.value_codec`, and keeps only
the greatest value per key, so a backend receives at most one value per key.

Example:
    >>> from datetime import datetime, timezone
    >>> from parity.online.base import ViewTable
    >>> codec = TableCodec(ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
    ...                                    features={"x": "float64"}))
    >>> ts = pa.timestamp("us", tz="UTC")
    >>> rows = pa.table({"id": [1, 1], "x": [0.5, 0.7], "event_timestamp": pa.array(
    ...     [datetime(2026, 1, 2, tzinfo=timezone.utc),
    ...      datetime(2026, 1, 1, tzinfo=timezone.utc)], ts)})
    >>> batch = codec.encode_batch(rows)
    >>> batch.keys.to_pylist(), codec.decode(batch.values[0].as_py()).values
    ([b'1'], (0.5,))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parity.errors import NaiveTimestampError, SchemaMismatch, did_you_mean
from parity.online.base import CREATED_TIMESTAMP, EVENT_TIMESTAMP, OnlineRow, ViewTable
from parity.online.entity_keys import EntityKeyCodec
from parity.online.value_codec import FLIP, ValueCodec
from parity.types import Timestamp

_US = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A write batch as bytes with one (greatest) value per key; ``rows`` counts the input.

    Example:
        >>> EncodedBatch(pa.array([b"1"]), pa.array([b"..."]), rows=2).rows
        2
    """

    keys: pa.Array
    values: pa.Array
    rows: int


class TableCodec:
    """Keys and values of one :class:`ViewTable`; built once per table and reused.

    Example:
        >>> from parity.online.base import ViewTable
        >>> TableCodec(ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
        ...                            features={"x": "int64"})).encode_key((5,))
        b'5'
    """

    def __init__(self, table: ViewTable) -> None:
        self.table = table
        self._keys = EntityKeyCodec(table.join_keys)
        self._values = ValueCodec(table.features)
        self.encode_key = self._keys.encode
        self.decode = self._values.decode

    def encode_row(self, row: OnlineRow) -> bytes:
        """The stored bytes of a decoded row (``decode`` reversed).

        Example:
            >>> from parity.online.base import ViewTable
            >>> codec = TableCodec(ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
            ...                                    features={"x": "float64"}))
            >>> value = codec.encode_batch(pa.table({"id": [1], "x": [0.5], "event_timestamp":
            ...     pa.array([0], pa.timestamp("us", tz="UTC"))})).values[0].as_py()
            >>> codec.encode_row(codec.decode(value)) == value
            True
        """
        return self._values.encode_one(
            tuple(row.values), event_us=row.event_us, created_us=row.created_us
        )

    def encode_batch(self, rows: pa.Table) -> EncodedBatch:
        """Validate and encode ``rows``, keeping the greatest value per key."""
        key_columns = []
        for name, dtype in self.table.join_keys:
            column = self._cast(rows, name, dtype, "join key")
            if column.null_count:
                raise SchemaMismatch(
                    f"Online write to {self.table.namespace}: join key {name!r} has "
                    f"{column.null_count} null(s). Entity keys are never null; quarantine "
                    "those rows."
                )
            key_columns.append(column)
        event = self._cast(rows, EVENT_TIMESTAMP, Timestamp, "timestamp")
        if event.null_count:
            raise SchemaMismatch(
                f"Online write to {self.table.namespace}: {EVENT_TIMESTAMP} has "
                f"{event.null_count} null(s); every row needs its event time."
            )
        created = None
        if CREATED_TIMESTAMP in rows.column_names:
            created = self._cast(rows, CREATED_TIMESTAMP, Timestamp, "timestamp").cast(pa.int64())
        features = [self._cast(rows, name, dtype, "feature") for name, dtype in self.table.features]
        keys = self._keys.encode_columns(key_columns)
        values = self._values.encode(features, event_us=event.cast(pa.int64()), created_us=created)
        if len(keys) > 1 and pc.count_distinct(keys).as_py() < len(keys):
            keys, values = _greatest_per_key(keys, values)
        return EncodedBatch(keys, values, rows.num_rows)

    def _cast(self, rows: pa.Table, name: str, dtype: Any, what: str) -> pa.ChunkedArray:
        if name not in rows.column_names:
            raise SchemaMismatch(
                f"Online write to {self.table.namespace}: {what} column {name!r} is missing."
                f"{did_you_mean(name, rows.column_names)} Columns: {', '.join(rows.column_names)}."
            )
        column = rows.column(name)
        if pa.types.is_timestamp(column.type) and column.type.tz is None:
            raise NaiveTimestampError(
                f"Online write to {self.table.namespace}: column {name!r} is a naive "
                f"timestamp ({column.type}). parity never guesses a zone: localize it to UTC."
            )
        try:
            return column.cast(dtype.to_arrow())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaMismatch(
                f"Online write to {self.table.namespace}: column {name!r} of type "
                f"{column.type} cannot be stored as {dtype.name}: {exc}. Cast it upstream."
            ) from exc

    def scan_batch(self, keys: list[bytes], heads: list[bytes]) -> pa.Table:
        """Join key columns and timestamps of stored entities, from their key bytes and the
        first 16 bytes of their values (the ordered header).

        Example:
            >>> from datetime import datetime, timezone
            >>> codec = TableCodec(ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
            ...                                    features={"x": "float64"}))
            >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
            >>> rows = pa.table({"id": [7], "x": [1.0], "event_timestamp": [at]})
            >>> value = codec.encode_batch(rows).values[0].as_py()
            >>> codec.scan_batch([b"7"], [value[:16]]).column("id").to_pylist()
            [7]
        """
        columns = dict(zip(self.table.join_key_names, self._keys.decode_columns(keys), strict=True))
        stamps = np.frombuffer(b"".join(heads), dtype=">u8").reshape(len(heads), 2)
        flipped = (stamps ^ np.uint64(FLIP)).astype(np.uint64).view(np.int64)
        columns[EVENT_TIMESTAMP] = pa.array(flipped[:, 0], _US)
        columns[CREATED_TIMESTAMP] = pa.array(flipped[:, 1], _US, mask=stamps[:, 1] == 0)
        return pa.table(columns)


def _greatest_per_key(keys: pa.Array, values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Keep, per key, the value that sorts last: the one the online store would keep."""
    order = pc.sort_indices(
        pa.table({"k": keys, "v": values}), sort_keys=[("k", "ascending"), ("v", "descending")]
    )
    keys, values = keys.take(order), values.take(order)
    first = pa.concat_arrays([pa.array([True]), pc.not_equal(keys[1:], keys[:-1])])
    return keys.filter(first), values.filter(first)
