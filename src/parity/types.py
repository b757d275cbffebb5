"""parity's value types and the UTC rule for timestamps.

A :class:`DType` is a small immutable value with a canonical spelling (``int64``,
``list<string>``, ``vector<float32,128>``) that maps to exactly one Arrow type. Every
timestamp parity accepts is timezone-aware and normalised to UTC; a naive timestamp is
an error, never a guess.

Example:
    >>> from parity.types import Int64, Array, Vector, parse_dtype
    >>> Array(Int64).name
    'list<int64>'
    >>> parse_dtype("vector<float32,4>") == Vector(4)
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from parity.errors import DefinitionError, NaiveTimestampError, did_you_mean

if TYPE_CHECKING:
    import pyarrow as pa

_PRIMITIVES = (
    "int32",
    "int64",
    "float32",
    "float64",
    "bool",
    "string",
    "bytes",
    "timestamp",
)
_NUMERIC = frozenset({"int32", "int64", "float32", "float64"})
_INTEGER = frozenset({"int32", "int64"})


@dataclass(frozen=True, slots=True)
class DType:
    """A feature value type. Build one with the module constants or :func:`Array`/:func:`Vector`.

    Example:
        >>> Float32.is_numeric
        True
    """

    kind: str
    element: DType | None = None
    size: int | None = None

    @property
    def name(self) -> str:
        """The canonical spelling, stable across releases (it is part of fingerprints)."""
        if self.kind == "list":
            assert self.element is not None
            return f"list<{self.element.name}>"
        if self.kind == "vector":
            assert self.element is not None
            return f"vector<{self.element.name},{self.size}>"
        return self.kind

    @property
    def is_numeric(self) -> bool:
        """True for integer and floating point scalars."""
        return self.kind in _NUMERIC

    @property
    def is_integer(self) -> bool:
        """True for int32 and int64."""
        return self.kind in _INTEGER

    @property
    def is_scalar(self) -> bool:
        """True unless the type is a list or a vector."""
        return self.kind not in ("list", "vector")

    def to_arrow(self) -> pa.DataType:
        """The Arrow type that stores this dtype (timestamps are ``timestamp[us, UTC]``)."""
        import pyarrow as pa

        simple: dict[str, pa.DataType] = {
            "int32": pa.int32(),
            "int64": pa.int64(),
            "float32": pa.float32(),
            "float64": pa.float64(),
            "bool": pa.bool_(),
            "string": pa.string(),
            "bytes": pa.binary(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }
        if self.kind == "list":
            assert self.element is not None
            return pa.list_(self.element.to_arrow())
        if self.kind == "vector":
            assert self.element is not None and self.size is not None
            return pa.list_(self.element.to_arrow(), self.size)
        return simple[self.kind]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"DType({self.name!r})"


Int32 = DType("int32")
Int64 = DType("int64")
Float32 = DType("float32")
Float64 = DType("float64")
Bool = DType("bool")
String = DType("string")
Bytes = DType("bytes")
Timestamp = DType("timestamp")


def Array(element: DType) -> DType:  # noqa: N802 - reads like a type constructor
    """A variable-length list of a scalar type.

    Example:
        >>> Array(String).name
        'list<string>'
    """
    if not element.is_scalar:
        raise DefinitionError(
            f"Array({element.name}): lists of lists or vectors are not supported; "
            "use a scalar element type such as Array(Float32)."
        )
    return DType("list", element=element)


def Vector(size: int, element: DType = Float32) -> DType:  # noqa: N802
    """A fixed-size float vector, for embeddings.

    Example:
        >>> Vector(128).name
        'vector<float32,128>'
    """
    if element.kind not in ("float32", "float64"):
        raise DefinitionError(
            f"Vector element type {element.name!r} is not supported; use Float32 or Float64."
        )
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise DefinitionError(f"Vector size must be a positive integer, got {size!r}.")
    return DType("vector", element=element, size=size)


_COMPOSITE = re.compile(r"^(list)<(.+)>$|^(vector)<(\w+),\s*(\d+)>$")


def parse_dtype(value: DType | str, *, what: str = "dtype") -> DType:
    """Accept a :class:`DType` or its canonical spelling; raise a helpful error otherwise.

    Example:
        >>> parse_dtype("list<int32>") == Array(Int32)
        True
    """
    if isinstance(value, DType):
        return value
    if not isinstance(value, str):
        raise DefinitionError(
            f"{what}: expected a parity type such as Int64 or 'int64', got {value!r}."
        )
    text = value.strip().lower()
    if text in _PRIMITIVES:
        return DType(text)
    match = _COMPOSITE.match(text)
    if match and match.group(1):
        element = parse_dtype(match.group(2), what=what)
        try:
            return Array(element)
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: invalid type {value!r}: {exc}") from exc
    if match and match.group(3):
        element = parse_dtype(match.group(4), what=what)
        try:
            return Vector(int(match.group(5)), element)
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: invalid type {value!r}: {exc}") from exc
    known = (*_PRIMITIVES, "list<T>", "vector<float32,N>")
    raise DefinitionError(
        f"{what}: invalid type {value!r}.{did_you_mean(text, _PRIMITIVES)} "
        f"Known types: {', '.join(known)}."
    )


def require_utc(value: datetime, *, what: str) -> datetime:
    """Return ``value`` converted to UTC; raise if it is naive.

    Example:
        >>> from datetime import datetime, timezone
        >>> require_utc(datetime(2026, 1, 1, tzinfo=timezone.utc), what="start").isoformat()
        '2026-01-01T00:00:00+00:00'
    """
    if not isinstance(value, datetime):
        raise DefinitionError(f"{what}: expected a datetime, got {type(value).__name__} {value!r}.")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveTimestampError(
            f"{what}: naive datetime {value.isoformat()} has no time zone. parity never "
            "guesses: pass an aware value, e.g. datetime(..., tzinfo=timezone.utc)."
        )
    return value.astimezone(UTC)


def require_positive_duration(value: timedelta, *, what: str) -> timedelta:
    """Return ``value`` if it is a timedelta greater than zero; raise otherwise.

    Example:
        >>> require_positive_duration(timedelta(days=1), what="ttl")
        datetime.timedelta(days=1)
    """
    if not isinstance(value, timedelta):
        raise DefinitionError(
            f"{what}: expected a datetime.timedelta, got {type(value).__name__} {value!r}. "
            "Example: timedelta(days=7)."
        )
    if value <= timedelta(0):
        raise DefinitionError(
            f"{what}: must be greater than zero, got {value!r}. Use None for 'no limit'."
        )
    return value


def format_duration(value: timedelta | None) -> str:
    """Human spelling of a duration for plans and tables.

    Example:
        >>> format_duration(timedelta(days=2, hours=3))
        '2d3h'
    """
    if value is None:
        return "none"
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or f"{value.total_seconds()}s"
