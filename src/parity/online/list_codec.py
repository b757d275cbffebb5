"""Bytes of one ``list<T>`` feature value inside an online value.

Layout: element count (u32, big-endian), one null flag byte per element, then the
elements: fixed-width types packed big-endian (timestamps as UTC microseconds, nulls as
zero), strings and bytes as (u32 length, bytes) each. Lists are the one feature type
encoded value by value in Python; every other type is encoded column-wise.

Example:
    >>> from parity.types import Int64
    >>> decode_list(encode_list([1, None, 3], Int64), Int64)
    [1, None, 3]
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from parity.errors import SchemaMismatch
from parity.types import DType, require_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_U32 = struct.Struct(">I")
_CODES = {"int32": "i", "int64": "q", "float32": "f", "float64": "d", "bool": "?", "timestamp": "q"}


def _to_micros(value: datetime) -> int:
    delta = require_utc(value, what="list<timestamp> element") - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_list(items: list[Any], element: DType) -> bytes:
    """Encode a Python list whose elements have type ``element`` (``None`` for nulls).

    Example:
        >>> from parity.types import String
        >>> encode_list(["a"], String)
        b'\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x01a'
    """
    count = len(items)
    nulls = bytes(item is None for item in items)
    kind = element.kind
    if kind in _CODES:
        zero: Any = False if kind == "bool" else 0
        if kind == "timestamp":
            packed = [zero if v is None else _to_micros(v) for v in items]
        else:
            packed = [zero if v is None else v for v in items]
        try:
            body = struct.pack(f">{count}{_CODES[kind]}", *packed)
        except struct.error as exc:
            raise SchemaMismatch(
                f"list<{kind}> value {items!r} cannot be encoded: {exc}. Check the element type."
            ) from exc
        return _U32.pack(count) + nulls + body
    parts = [_U32.pack(count), nulls]
    for item in items:
        raw = b"" if item is None else (item.encode() if kind == "string" else bytes(item))
        parts += [_U32.pack(len(raw)), raw]
    return b"".join(parts)


def decode_list(data: bytes, element: DType) -> list[Any]:
    """Decode what :func:`encode_list` wrote.

    Example:
        >>> from parity.types import Bool
        >>> decode_list(encode_list([True, False], Bool), Bool)
        [True, False]
    """
    (count,) = _U32.unpack_from(data, 0)
    nulls = data[4 : 4 + count]
    pos = 4 + count
    kind = element.kind
    if kind in _CODES:
        items: list[Any] = list(struct.unpack_from(f">{count}{_CODES[kind]}", data, pos))
        if kind == "timestamp":
            items = [_EPOCH + timedelta(microseconds=v) for v in items]
    else:
        items = []
        for _ in range(count):
            (length,) = _U32.unpack_from(data, pos)
            raw = data[pos + 4 : pos + 4 + length]
            items.append(raw.decode() if kind == "string" else raw)
            pos += 4 + length
    return [None if null else item for item, null in zip(items, nulls, strict=True)]
