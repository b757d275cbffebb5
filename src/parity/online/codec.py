"""The bytes of online keys and values, shared by every online backend.

Entity key: one component is its plain text (``42``, ``alice``; bools ``0``/``1``,
timestamps as UTC microseconds); a composite key is ``<len>:<bytes>`` per component, so
no separator can be forged. Writes encode keys column-wise in Arrow; reads encode the
same bytes from Python values.

Value: a fixed big-endian header, then the features::

    event_us+2**63 (u64) | created_us+2**63 or 0 (u64) | feature count (u16)
    | one null flag byte per feature | fixed-width features | (u32 length, bytes) per
    string, bytes or list feature

Because the header is big-endian with the sign bit flipped, comparing two values as
bytes orders them by (event, created, payload): the backends' "newer wins" rule is a
plain byte comparison (SQLite ``>`` on BLOBs, a byte loop in the Redis Lua script).
Fixed-width columns are encoded with one numpy structured array, variable ones are
joined by Arrow, so a batch never loops over rows in Python except for list features.

Example:
    >>> from parity.online.base import ViewTable
    >>> codec = TableCodec(ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
    ...                                    features={"x": "float64"}))
    >>> codec.encode_key((42,))
    b'42'
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parity.errors import NaiveTimestampError, SchemaMismatch, did_you_mean
from parity.online.base import CREATED_TIMESTAMP, EVENT_TIMESTAMP, OnlineRow, ViewTable
from parity.online.list_codec import decode_list, encode_list
from parity.types import DType, require_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLIP = 1 << 63
_U32 = struct.Struct(">I")
_HEAD = ">QQH"
_HEAD_SIZE = 18
# dtype kind -> (struct code, numpy dtype); vectors repeat their element's code.
_FIXED = {
    "int32": ("i", ">i4"),
    "int64": ("q", ">i8"),
    "float32": ("f", ">f4"),
    "float64": ("d", ">f8"),
    "bool": ("?", "u1"),
    "timestamp": ("q", ">i8"),
}
_US = pa.timestamp("us", tz="UTC")


def _micros(value: datetime) -> int:
    delta = require_utc(value, what="timestamp") - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _key_part(dtype: DType) -> Callable[[Any], bytes]:
    kind = dtype.kind
    if kind in ("int32", "int64"):
        return lambda v: str(operator.index(v)).encode()
    if kind == "bool":
        return lambda v: b"1" if operator.index(v) else b"0"
    if kind == "timestamp":
        return lambda v: str(_micros(v)).encode()
    if kind == "string":
        return lambda v: v.encode() if isinstance(v, str) else _bad_key(v, dtype)
    return lambda v: (
        bytes(v) if isinstance(v, bytes | bytearray | memoryview) else _bad_key(v, dtype)
    )


def _bad_key(value: Any, dtype: DType) -> bytes:
    raise SchemaMismatch(
        f"Entity key value {value!r} ({type(value).__name__}) does not match the join key "
        f"type {dtype.name}. Pass a {'str' if dtype.kind == 'string' else 'bytes'} value."
    )


def _key_column(column: pa.ChunkedArray, dtype: DType) -> pa.ChunkedArray:
    if dtype.kind == "timestamp":
        column = column.cast(_US).cast(pa.int64())
    elif dtype.kind == "bool":
        column = column.cast(pa.int8())
    return column.cast(pa.string()).cast(pa.binary()) if dtype.kind != "bytes" else column


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A write batch as bytes, reduced to the greatest value per key (``rows`` before)."""

    keys: pa.Array
    values: pa.Array
    rows: int


class TableCodec:
    """Encodes keys and values of one :class:`ViewTable`; built once per table and reused.

    Example:
        >>> from datetime import datetime, timezone
        >>> from parity.online.base import ViewTable
        >>> codec = TableCodec(ViewTable.build("p", "v", 1, join_keys={"id": "int64"},
        ...                                    features={"x": "float64"}))
        >>> rows = pa.table({"id": [1], "x": [0.5], "event_timestamp": pa.array(
        ...     [datetime(2026, 1, 1, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC"))})
        >>> codec.decode(codec.encode_batch(rows).values[0].as_py()).values
        (0.5,)
    """

    def __init__(self, table: ViewTable, *, feature_count: int | None = None) -> None:
        self.table = table
        features = table.features[: feature_count or len(table.features)]
        self._count = len(features)
        self._count_bytes = self._count.to_bytes(2, "big")
        self._key_parts = tuple(_key_part(t) for _, t in table.join_keys)
        codes = [_HEAD, "?" * self._count]
        np_fields: list[tuple[Any, ...]] = [
            ("h", ">u8", (2,)),
            ("n", ">u2"),
            ("z", "u1", (self._count,)),
        ]
        # plan entry per feature: (kind, index into the unpacked tuple, width)
        plan: list[tuple[str, int, int]] = []
        index = 3 + self._count
        for i, (_, dtype) in enumerate(features):
            if dtype.kind == "vector":
                assert dtype.element is not None and dtype.size is not None
                code, np_type = _FIXED[dtype.element.kind]
                codes.append(f"{dtype.size}{code}")
                np_fields.append((f"f{i}", np_type, (dtype.size,)))
                plan.append(("vector", index, dtype.size))
                index += dtype.size
            elif dtype.kind in _FIXED:
                code, np_type = _FIXED[dtype.kind]
                codes.append(code)
                np_fields.append((f"f{i}", np_type))
                plan.append(("timestamp" if dtype.kind == "timestamp" else "plain", index, 1))
                index += 1
            else:
                plan.append((dtype.kind, -1, 0))
        self._features = features
        self._plan = tuple(plan)
        self._struct = struct.Struct("".join(codes))
        self._np_dtype = np.dtype(np_fields)
        assert self._np_dtype.itemsize == self._struct.size
        self._older: dict[int, TableCodec] = {}

    def encode_key(self, key: tuple[Any, ...]) -> bytes:
        """The bytes of one entity key given in join-key order.

        Example:
            >>> from parity.online.base import ViewTable
            >>> table = ViewTable.build("p", "v", 1, join_keys={"id": "int64", "c": "string"},
            ...                         features={"x": "float64"})
            >>> TableCodec(table).encode_key((7, "DE"))
            b'1:72:DE'
        """
        parts = self._key_parts
        if len(key) != len(parts):
            raise SchemaMismatch(
                f"Entity key {key!r} of view {self.table.namespace}: expected "
                f"{len(parts)} value(s) for {self.table.join_key_names}."
            )
        if len(parts) == 1:
            return parts[0](key[0])
        encoded = [part(value) for part, value in zip(parts, key, strict=True)]
        return b"".join(b"%d:%s" % (len(e), e) for e in encoded)

    def encode_batch(self, rows: pa.Table) -> EncodedBatch:
        """Validate ``rows`` and encode them, keeping the greatest value per key."""
        keys = self._encode_keys(rows)
        values = self._encode_values(rows)
        if len(keys) > 1 and pc.count_distinct(keys).as_py() < len(keys):
            order = pc.sort_indices(
                pa.table({"k": keys, "v": values}),
                sort_keys=[("k", "ascending"), ("v", "descending")],
            )
            keys, values = keys.take(order), values.take(order)
            first = pc.not_equal(keys[1:], keys[:-1])
            keep = pa.concat_arrays([pa.array([True]), first])
            keys, values = keys.filter(keep), values.filter(keep)
        return EncodedBatch(keys, values, rows.num_rows)

    def _column(self, rows: pa.Table, name: str, what: str) -> pa.ChunkedArray:
        if name not in rows.column_names:
            raise SchemaMismatch(
                f"Online write to {self.table.namespace}: {what} column {name!r} is missing."
                f"{did_you_mean(name, rows.column_names)} Columns: {', '.join(rows.column_names)}."
            )
        return rows.column(name)

    def _cast(self, rows: pa.Table, name: str, dtype: DType, what: str) -> pa.ChunkedArray:
        column = self._column(rows, name, what)
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

    def _encode_keys(self, rows: pa.Table) -> pa.Array:
        parts = []
        for name, dtype in self.table.join_keys:
            column = self._cast(rows, name, dtype, "join key")
            if column.null_count:
                raise SchemaMismatch(
                    f"Online write to {self.table.namespace}: join key {name!r} has "
                    f"{column.null_count} null(s). Entity keys are never null; quarantine "
                    "those rows."
                )
            parts.append(_key_column(column, dtype))
        if len(parts) == 1:
            return parts[0].combine_chunks()
        pieces: list[Any] = []
        for part in parts:
            pieces += [
                pc.binary_length(part).cast(pa.string()).cast(pa.binary()),
                pa.scalar(b":"),
                part,
            ]
        return pc.binary_join_element_wise(*pieces, b"").combine_chunks()

    def _encode_values(self, rows: pa.Table) -> pa.Array:
        n = rows.num_rows
        event = self._cast(rows, EVENT_TIMESTAMP, DType("timestamp"), "timestamp")
        if event.null_count:
            raise SchemaMismatch(
                f"Online write to {self.table.namespace}: {EVENT_TIMESTAMP} has "
                f"{event.null_count} null(s); every row needs its event time."
            )
        fixed = np.zeros(n, dtype=self._np_dtype)
        fixed["h"][:, 0] = event.cast(pa.int64()).to_numpy().view(np.uint64) ^ np.uint64(_FLIP)
        if CREATED_TIMESTAMP in rows.column_names:
            created = self._cast(rows, CREATED_TIMESTAMP, DType("timestamp"), "timestamp")
            micros = created.cast(pa.int64()).fill_null(0).to_numpy().view(np.uint64)
            fixed["h"][:, 1] = np.where(
                created.is_null().to_numpy(zero_copy_only=False), 0, micros ^ np.uint64(_FLIP)
            )
        fixed["n"] = self._count
        variable: list[Any] = []
        for i, (name, dtype) in enumerate(self._features):
            column = self._cast(rows, name, dtype, "feature")
            if column.null_count:
                fixed["z"][:, i] = column.is_null().to_numpy(zero_copy_only=False)
            if dtype.kind == "vector":
                if column.null_count:
                    column = column.fill_null(pa.scalar([0.0] * (dtype.size or 0), column.type))
                flat = column.combine_chunks().flatten()
                if flat.null_count:
                    raise SchemaMismatch(
                        f"Online write to {self.table.namespace}: vector feature {name!r} has "
                        "null elements. Null the whole vector or fill the elements."
                    )
                fixed[f"f{i}"] = flat.to_numpy().reshape(n, dtype.size or 0)
            elif dtype.kind in _FIXED:
                if dtype.kind == "timestamp":
                    column = column.cast(pa.int64())
                elif dtype.kind == "bool":
                    column = column.cast(pa.uint8())
                fixed[f"f{i}"] = column.fill_null(0).to_numpy()
            else:
                if dtype.kind == "list":
                    assert dtype.element is not None
                    element = dtype.element
                    data = pa.array(
                        [
                            None if v is None else encode_list(v, element)
                            for v in column.to_pylist()
                        ],
                        pa.binary(),
                    )
                else:
                    data = column.cast(pa.binary())
                data = data.fill_null(b"")
                length = pc.binary_length(data).cast(pa.uint32()).to_numpy().astype(">u4")
                variable += [_fixed_binary(length.tobytes(), 4, n), data]
        head = _fixed_binary(fixed.tobytes(), self._np_dtype.itemsize, n)
        if not variable:
            return head
        return pc.binary_join_element_wise(head, *variable, b"").combine_chunks()

    def decode(self, value: bytes) -> OnlineRow:
        """Turn stored bytes back into an :class:`OnlineRow` (the hot path of reads)."""
        if value[16:18] != self._count_bytes:
            return self._decode_other(value, int.from_bytes(value[16:18], "big"))
        head = self._struct.unpack_from(value, 0)
        values: list[Any] = []
        pos = self._struct.size
        for i, (kind, index, width) in enumerate(self._plan):
            null = head[3 + i]
            if index < 0:
                (length,) = _U32.unpack_from(value, pos)
                pos += 4
                if null:
                    values.append(None)
                elif kind == "string":
                    values.append(value[pos : pos + length].decode())
                elif kind == "bytes":
                    values.append(value[pos : pos + length])
                else:
                    element = self._features[i][1].element
                    assert element is not None
                    values.append(decode_list(value[pos : pos + length], element))
                pos += length
            elif null:
                values.append(None)
            elif kind == "plain":
                values.append(head[index])
            elif kind == "timestamp":
                values.append(_EPOCH + timedelta(microseconds=head[index]))
            else:
                values.append(list(head[index : index + width]))
        created = head[1]
        return OnlineRow(
            tuple(values),
            _EPOCH + timedelta(microseconds=head[0] - _FLIP),
            None if created == 0 else _EPOCH + timedelta(microseconds=created - _FLIP),
        )

    def _decode_other(self, value: bytes, count: int) -> OnlineRow:
        # Written before nullable features were appended (same version, expanded schema).
        if count > len(self.table.features):
            raise SchemaMismatch(
                f"Online value of {self.table.namespace} has {count} features but the view "
                f"declares {len(self.table.features)}. Features may only be appended; a "
                "removed feature needs a new view version."
            )
        codec = self._older.get(count)
        if codec is None:
            codec = self._older[count] = TableCodec(self.table, feature_count=count)
        row = codec.decode(value)
        padding = (None,) * (len(self.table.features) - count)
        return OnlineRow(row.values + padding, row.event_timestamp, row.created_timestamp)


def _fixed_binary(data: bytes, width: int, n: int) -> pa.Array:
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(data)])
    return array.cast(pa.binary())
