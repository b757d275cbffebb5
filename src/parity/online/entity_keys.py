"""Entity keys as bytes: the same bytes from an Arrow column (writes) and a tuple (reads).

One component is its plain text: ints in decimal (``42``), strings as UTF-8, bytes as
they are, bools ``0``/``1``, timestamps as UTC microseconds in decimal. A composite key
is ``<byte length>:<bytes>`` per component, so no value can forge a separator and keys
stay readable in ``redis-cli``.

Example:
    >>> from parity.types import Int64, String
    >>> EntityKeyCodec((("id", Int64),)).encode((42,))
    b'42'
    >>> EntityKeyCodec((("id", Int64), ("country", String))).encode((42, "DE"))
    b'2:422:DE'
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from parity.errors import SchemaMismatch
from parity.types import DType, require_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = pa.timestamp("us", tz="UTC")


def to_micros(value: datetime, *, what: str = "timestamp") -> int:
    """Microseconds since the Unix epoch of an aware datetime (naive ones are refused).

    Example:
        >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
        1000000
    """
    delta = require_utc(value, what=what) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_PYTHON_TYPE = {"int32": "int", "int64": "int", "bool": "bool", "timestamp": "aware datetime"}


def _bad_key(value: Any, dtype: DType) -> bytes:
    expected = _PYTHON_TYPE.get(dtype.kind, "str" if dtype.kind == "string" else "bytes")
    raise SchemaMismatch(
        f"Entity key value {value!r} ({type(value).__name__}) does not match the join key "
        f"type {dtype.name}. Pass a {expected} value."
    )


_JSON_TYPE = {"int32": "integer", "int64": "integer", "bool": "boolean", "string": "string"}


def check_key_value(name: str, dtype: DType, value: Any, *, where: str) -> None:
    """Refuse a join key value that is not exactly of the key's type: one rule for reads
    and pushes. An integer key takes integers only (never ``true``, ``"0x10"``,
    ``"777002"`` or ``5.0``), a boolean key booleans, a string key strings; ``None`` is
    left to the caller. Raises :class:`~parity.errors.SchemaMismatch` (HTTP 422).

    Example:
        >>> from parity.types import Int64
        >>> check_key_value("user_id", Int64, 7, where="row 0")
        >>> try:
        ...     check_key_value("user_id", Int64, "777002", where="row 0")
        ... except SchemaMismatch as exc:
        ...     print(str(exc).split(";")[0])
        row 0: join key 'user_id' is '777002' (str)
    """
    kind = dtype.kind
    if value is None or kind not in _JSON_TYPE:
        return
    if kind in ("int32", "int64"):
        ok = not isinstance(value, bool)
        if ok:
            try:
                operator.index(value)
            except TypeError:
                ok = False
    elif kind == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        example = ""
        if kind in ("int32", "int64") and isinstance(value, str) and value.strip().isdigit():
            example = f", e.g. {int(value)}"
        raise SchemaMismatch(
            f"{where}: join key {name!r} is {value!r} ({type(value).__name__}); it is an "
            f"{dtype.name} key. Send a JSON {_JSON_TYPE[kind]}{example}."
        )


def _integer_encoder(dtype: DType) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        try:
            # operator.index accepts ints and numpy ints, refuses floats and strings.
            return str(operator.index(value)).encode()
        except TypeError:
            return _bad_key(value, dtype)

    return encode


def _part_encoder(dtype: DType) -> Callable[[Any], bytes]:
    kind = dtype.kind
    if kind in ("int32", "int64"):
        return _integer_encoder(dtype)
    if kind == "bool":
        return lambda v: b"1" if v is True else b"0" if v is False else _bad_key(v, dtype)
    if kind == "timestamp":
        return lambda v: str(to_micros(v, what="entity key")).encode()
    if kind == "string":
        return lambda v: v.encode() if isinstance(v, str) else _bad_key(v, dtype)
    return lambda v: bytes(v) if isinstance(v, bytes | bytearray) else _bad_key(v, dtype)


def _part_column(column: pa.ChunkedArray, dtype: DType) -> pa.ChunkedArray:
    """The component bytes of a column already cast to ``dtype.to_arrow()``."""
    if dtype.kind == "bytes":
        return column
    if dtype.kind == "timestamp":
        column = column.cast(pa.int64())
    elif dtype.kind == "bool":
        column = column.cast(pa.int8())
    return column.cast(pa.string()).cast(pa.binary())


class EntityKeyCodec:
    """Encodes the entity keys of one view version.

    Example:
        >>> from parity.types import Bool
        >>> EntityKeyCodec((("active", Bool),)).encode((True,))
        b'1'
    """

    def __init__(self, join_keys: tuple[tuple[str, DType], ...]) -> None:
        self.join_keys = join_keys
        self._parts = tuple(_part_encoder(dtype) for _, dtype in join_keys)

    def encode(self, key: tuple[Any, ...]) -> bytes:
        """The bytes of one key given as a tuple in join-key order.

        Example:
            >>> from parity.types import Int64
            >>> EntityKeyCodec((("id", Int64),)).encode((7,))
            b'7'
        """
        parts = self._parts
        if len(key) != len(parts):
            names = tuple(name for name, _ in self.join_keys)
            raise SchemaMismatch(
                f"Entity key {key!r}: expected {len(parts)} value(s) for {names}, in that order."
            )
        if len(parts) == 1:
            return parts[0](key[0])
        encoded = [part(value) for part, value in zip(parts, key, strict=True)]
        return b"".join(b"%d:%s" % (len(e), e) for e in encoded)

    def encode_columns(self, columns: list[pa.ChunkedArray]) -> pa.Array:
        """The key bytes of every row, from columns cast to the join key types.

        Example:
            >>> from parity.types import Int64
            >>> EntityKeyCodec((("id", Int64),)).encode_columns(
            ...     [pa.chunked_array([[1, 22]])]).to_pylist()
            [b'1', b'22']
        """
        parts = [
            _part_column(column, dtype)
            for column, (_, dtype) in zip(columns, self.join_keys, strict=True)
        ]
        if len(parts) == 1:
            return parts[0].combine_chunks()
        pieces: list[Any] = []
        for part in parts:
            length = pc.binary_length(part).cast(pa.string()).cast(pa.binary())
            pieces += [length, pa.scalar(b":"), part]
        return pc.binary_join_element_wise(*pieces, b"").combine_chunks()

    def decode_columns(self, keys: list[bytes]) -> list[pa.Array]:
        """The join key columns (typed) of stored key bytes; the inverse of encoding.

        Example:
            >>> from parity.types import Int64, String
            >>> codec = EntityKeyCodec((("id", Int64), ("country", String)))
            >>> [c.to_pylist() for c in codec.decode_columns([b"2:422:DE"])]
            [[42], ['DE']]
        """
        if len(self.join_keys) == 1:
            parts = [pa.array(keys, pa.binary())]
        else:
            # Composite keys need a parse per key; scans are rare and batched.
            split = [_split_composite(key, len(self.join_keys)) for key in keys]
            parts = [
                pa.array([s[i] for s in split], pa.binary()) for i in range(len(self.join_keys))
            ]
        return [
            _part_values(part, dtype)
            for part, (_, dtype) in zip(parts, self.join_keys, strict=True)
        ]


def _split_composite(key: bytes, count: int) -> list[bytes]:
    parts, pos = [], 0
    for _ in range(count):
        colon = key.index(b":", pos)
        length = int(key[pos:colon])
        parts.append(key[colon + 1 : colon + 1 + length])
        pos = colon + 1 + length
    return parts


def _part_values(part: pa.Array, dtype: DType) -> pa.Array:
    """Typed values of component bytes (inverse of :func:`_part_column`)."""
    if dtype.kind == "bytes":
        return part
    text = part.cast(pa.string())
    if dtype.kind == "bool":
        return pc.equal(text, "1")
    if dtype.kind == "timestamp":
        return text.cast(pa.int64()).cast(_US)
    return text.cast(dtype.to_arrow())
