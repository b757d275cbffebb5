"""Online values as bytes: one compact, ordered record per (view version, entity).

Layout, all big-endian::

    event_us + 2**63 (u64) | created_us + 2**63, or 0 when absent (u64) | layout (u8, 1)
    | feature count (u16) | one null byte per feature | fixed-width features
    | one u32 length per string, bytes or list feature | those features' bytes, concatenated

The header makes byte order the value order: comparing two records as bytes compares
(event, created) and then the payload, so "newer wins" is a plain byte comparison in
every backend and exact ties resolve the same way whatever the arrival order.

Encoding is column-wise (one numpy structured array for the fixed part, Arrow for the
variable part; only list features are encoded value by value). Decoding is the read hot
path: each codec compiles one straight-line function for its layout (no per-feature
loop, no dispatch); its source is :attr:`ValueCodec.decoder_source`. Only indices and
offsets from the schema go into that source, never a name or a value.

Example:
    >>> from parity.types import Float64
    >>> codec = ValueCodec((("spend", Float64),))
    >>> value = codec.encode_one((2.5,), event_us=1_000_000, created_us=None)
    >>> codec.decode(value).values, codec.decode(value).event_us
    ((2.5,), 1000000)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parity.errors import SchemaMismatch
from parity.online.base import OnlineRow
from parity.online.list_codec import decode_list, encode_list
from parity.types import DType

FLIP = 1 << 63
LAYOUT = 1  # bump when the byte layout changes; readers refuse layouts they do not know
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# dtype kind -> (struct code, numpy dtype); vectors repeat their element's code.
_FIXED = {
    "int32": ("i", ">i4"),
    "int64": ("q", ">i8"),
    "float32": ("f", ">f4"),
    "float64": ("d", ">f8"),
    "bool": ("?", "u1"),
    "timestamp": ("q", ">i8"),
}


class ValueCodec:
    """Encodes and decodes the values of one view version's features (in schema order).

    Example:
        >>> from parity.types import String
        >>> ValueCodec((("country", String),)).decode(
        ...     ValueCodec((("country", String),)).encode_one(("DE",), event_us=0,
        ...                                                   created_us=5)).created_us
        5
    """

    def __init__(self, features: tuple[tuple[str, DType], ...]) -> None:
        self.features = features
        n = len(features)
        # Layout byte and feature count, checked together by one slice comparison.
        self.shape_bytes = bytes([LAYOUT]) + n.to_bytes(2, "big")
        codes = [">QQBH", "?" * n]
        np_fields: list[tuple[Any, ...]] = [
            ("h", ">u8", (2,)),
            ("layout", "u1"),
            ("n", ">u2"),
            ("z", "u1", (n,)),
        ]
        index = 4 + n
        self._slots: list[tuple[str, int, int]] = []  # per feature: (kind, index, width)
        variable = []
        for i, (_, dtype) in enumerate(features):
            if dtype.kind == "vector":
                assert dtype.element is not None and dtype.size is not None
                code, np_type = _FIXED[dtype.element.kind]
                codes.append(f"{dtype.size}{code}")
                np_fields.append((f"f{i}", np_type, (dtype.size,)))
                self._slots.append(("vector", index, dtype.size))
                index += dtype.size
            elif dtype.kind in _FIXED:
                code, np_type = _FIXED[dtype.kind]
                codes.append(code)
                np_fields.append((f"f{i}", np_type))
                self._slots.append((dtype.kind, index, 1))
                index += 1
            else:
                variable.append(i)
                self._slots.append((dtype.kind, -1, 0))
        for i in variable:
            codes.append("I")
            np_fields.append((f"len{i}", ">u4"))
            self._slots[i] = (self._slots[i][0], index, 0)
            index += 1
        self._variable = tuple(variable)
        self._struct = struct.Struct("".join(codes))
        self._np_dtype = np.dtype(np_fields)
        assert self._np_dtype.itemsize == self._struct.size
        self.decoder_source = self._decoder_source()
        namespace: dict[str, Any] = {
            "unpack": self._struct.unpack_from,
            "shape_bytes": self.shape_bytes,
            "decode_other": self._decode_other,
            "decode_list": decode_list,
            "OnlineRow": OnlineRow,
            "EPOCH": _EPOCH,
            "timedelta": timedelta,
            "FLIP": FLIP,
            **{f"element{i}": dtype.element for i, (_, dtype) in enumerate(features)},
        }
        exec(compile(self.decoder_source, f"<decoder of {n} features>", "exec"), namespace)
        self.decode: Callable[[bytes], OnlineRow] = namespace["decode"]
        self._older: dict[int, ValueCodec] = {}

    def _decoder_source(self) -> str:
        lines = [
            "def decode(value):",
            "    if value[16:19] != shape_bytes:",
            "        return decode_other(value)",
            "    h = unpack(value)",
        ]
        start = str(self._struct.size)
        bounds: dict[int, tuple[str, str]] = {}
        for i in self._variable:
            lines.append(f"    end{i} = {start} + h[{self._slots[i][1]}]")
            bounds[i] = (start, f"end{i}")
            start = f"end{i}"
        items = []
        for i, (kind, index, width) in enumerate(self._slots):
            if kind == "vector":
                item = f"list(h[{index}:{index + width}])"
            elif kind == "timestamp":
                item = f"EPOCH + timedelta(microseconds=h[{index}])"
            elif kind in _FIXED:
                item = f"h[{index}]"
            else:
                raw = "value[{}:{}]".format(*bounds[i])
                item = {"string": f"{raw}.decode()", "bytes": raw}.get(
                    kind, f"decode_list({raw}, element{i})"
                )
            items.append(f"None if h[{4 + i}] else {item}")
        lines.append(f"    values = ({', '.join(items)},)")
        lines.append("    return OnlineRow(values, h[0] - FLIP, h[1] - FLIP if h[1] else None)")
        return "\n".join(lines) + "\n"

    def _decode_other(self, value: bytes) -> OnlineRow:
        # Written before nullable features were appended (same version, expanded schema).
        if value[16] != LAYOUT:
            raise SchemaMismatch(
                f"An online value has layout {value[16]}; this parity reads layout {LAYOUT}. "
                "Upgrade parity, or re-materialize the view version."
            )
        count = int.from_bytes(value[17:19], "big")
        if count > len(self.features):
            raise SchemaMismatch(
                f"An online value has {count} features but its view declares "
                f"{len(self.features)}. Features may only be appended; a removed or "
                "reordered feature needs a new view version."
            )
        codec = self._older.get(count)
        if codec is None:
            codec = self._older[count] = ValueCodec(self.features[:count])
        row = codec.decode(value)
        padding = (None,) * (len(self.features) - count)
        return OnlineRow(row.values + padding, row.event_us, row.created_us)

    def encode(
        self,
        columns: list[pa.ChunkedArray],
        *,
        event_us: pa.ChunkedArray,
        created_us: pa.ChunkedArray | None,
    ) -> pa.Array:
        """Encode every row; ``columns`` are cast to the feature types, times are int64 µs."""
        n = len(event_us)
        fixed = np.zeros(n, dtype=self._np_dtype)
        fixed["h"][:, 0] = event_us.to_numpy().view(np.uint64) ^ np.uint64(FLIP)
        if created_us is not None:
            flipped = created_us.fill_null(0).to_numpy().view(np.uint64) ^ np.uint64(FLIP)
            absent = created_us.is_null().to_numpy()
            fixed["h"][:, 1] = np.where(absent, np.uint64(0), flipped)
        fixed["layout"] = LAYOUT
        fixed["n"] = len(self.features)
        variable: list[pa.Array] = []
        for i, ((name, dtype), column) in enumerate(zip(self.features, columns, strict=True)):
            if column.null_count:
                fixed["z"][:, i] = column.is_null().to_numpy()
            if dtype.kind == "vector":
                if column.null_count:
                    column = column.fill_null(pa.scalar([0.0] * (dtype.size or 0), column.type))
                flat = column.combine_chunks().flatten()
                if flat.null_count:
                    raise SchemaMismatch(
                        f"Vector feature {name!r} has null elements. Null the whole vector "
                        "or fill its elements."
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
                    ).fill_null(b"")
                else:
                    data = column.cast(pa.binary()).fill_null(b"").combine_chunks()
                fixed[f"len{i}"] = pc.binary_length(data).to_numpy()
                variable.append(data)
        head = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(self._struct.size), n, [None, pa.py_buffer(fixed.tobytes())]
        ).cast(pa.binary())
        if not variable:
            return head
        joined: pa.Array = pc.binary_join_element_wise(head, *variable, b"")
        return joined

    def encode_one(
        self, values: tuple[Any, ...], *, event_us: int, created_us: int | None
    ) -> bytes:
        """Encode a single record from Python values (tests, tools; writes use :meth:`encode`).

        Example:
            >>> from parity.types import Int64
            >>> len(ValueCodec((("n", Int64),)).encode_one((1,), event_us=0, created_us=None))
            28
        """
        columns = [
            pa.chunked_array([pa.array([v], dtype.to_arrow())])
            for v, (_, dtype) in zip(values, self.features, strict=True)
        ]
        created = None if created_us is None else pa.chunked_array([[created_us]], pa.int64())
        encoded = self.encode(
            columns, event_us=pa.chunked_array([[event_us]], pa.int64()), created_us=created
        )
        data: bytes = encoded[0].as_py()
        return data
