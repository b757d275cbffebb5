"""Decoding stream messages into typed events, or into a dead-letter reason.

A message is one JSON object with the view's source column names: the join keys, the
event timestamp (ISO 8601 with an offset; naive times are refused, never guessed), the
aggregated input columns and, optionally, an event id (``id_field``): a producer that
retries a publish with the same id is then never counted twice. Without one, the
transport's own message id identifies the event (redeliveries keep it).

Example:
    >>> from parity.types import Float64, Int64
    >>> schema = EventSchema(keys=(("user_id", Int64),), timestamp_field="ts",
    ...                      inputs=(("amount", Float64),))
    >>> schema.decode(b'{"user_id": 7, "ts": "2026-01-01T00:00:00Z", "amount": 3}')[:3]
    ((7,), 1767225600000000, None)
    >>> try:
    ...     schema.decode(b'{"user_id": 7, "ts": "2026-01-01T00:00:00", "amount": 3}')
    ... except BadEvent as exc:
    ...     print(exc)
    ts='2026-01-01T00:00:00' is a naive timestamp; send it with an offset, e.g. 2026-01-01T00:00:00Z
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from parity.errors import BadEvent
from parity.offline.base import ViewReadSpec
from parity.types import DType

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check(value: Any, dtype: DType, name: str, *, nullable: bool) -> Any:
    if value is None:
        if nullable:
            return None
        raise BadEvent(f"{name} is missing or null")
    kind = dtype.kind
    if dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            limit = 2**31 if kind == "int32" else 2**63
            if -limit <= value < limit:
                return value
        raise BadEvent(f"{name}={value!r} is not an {kind}")
    if kind in ("float32", "float64"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise BadEvent(f"{name}={value!r} is not a number")
    if kind == "string":
        if isinstance(value, str):
            return value
        raise BadEvent(f"{name}={value!r} is not a string")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise BadEvent(f"{name}={value!r} is not a bool")
    if kind == "timestamp":
        return parse_time_us(value, name)
    raise BadEvent(f"{name}: {dtype.name} inputs are not supported in streams")


def parse_time_us(value: Any, name: str) -> int:
    """UTC microseconds of an ISO 8601 string with an offset."""
    if not isinstance(value, str):
        raise BadEvent(f"{name}={value!r} is not an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadEvent(f"{name}={value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise BadEvent(
            f"{name}={value!r} is a naive timestamp; send it with an offset, e.g. {value}Z"
        )
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class EventSchema:
    """The fields of one view's events, resolved once; :meth:`decode` is the hot path.

    Example:
        >>> EventSchema.from_spec(spec, id_field="event_id").id_field  # doctest: +SKIP
        'event_id'
    """

    keys: tuple[tuple[str, DType], ...]
    timestamp_field: str
    inputs: tuple[tuple[str, DType], ...]
    id_field: str | None = None
    # CDC-fed views (#18): the field whose value "d" makes the message a retraction of
    # its key (decoded with ``None`` input values).
    op_field: str | None = None

    @classmethod
    def from_spec(cls, spec: ViewReadSpec, *, id_field: str | None = None) -> EventSchema:
        """The event schema of an aggregation spec (source column names)."""
        seen: dict[str, DType] = {}
        for agg in spec.aggregations:
            assert isinstance(agg.dtype, DType)
            seen.setdefault(agg.column, agg.dtype)
        return cls(
            keys=tuple((k.source_column, k.dtype) for k in spec.join_keys),
            timestamp_field=spec.source.timestamp_field,
            inputs=tuple(seen.items()),
            id_field=id_field,
            op_field=spec.source.op_field,
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        """Input column names, in the order of the decoded values."""
        return tuple(name for name, _ in self.inputs)

    def decode(
        self, payload: bytes | str
    ) -> tuple[tuple[Any, ...], int, str | None, tuple[Any, ...] | None]:
        """``(key, event time in UTC microseconds, event id or None, input values)``; the
        input values are ``None`` for a retraction (``op_field`` is ``"d"``).

        Raises :class:`BadEvent` with the reason when the message is not a valid event.
        """
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise BadEvent(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise BadEvent(f"expected a JSON object, got {type(data).__name__}")
        key = tuple(
            _check(data.get(name), dtype, name, nullable=False) for name, dtype in self.keys
        )
        stamp = data.get(self.timestamp_field, data.get("event_timestamp"))
        if stamp is None:
            raise BadEvent(f"{self.timestamp_field} is missing or null")
        time_us = parse_time_us(stamp, self.timestamp_field)
        event_id = None
        if self.id_field is not None and data.get(self.id_field) is not None:
            event_id = str(data[self.id_field])
        if self.op_field is not None and data.get(self.op_field) == "d":
            return key, time_us, event_id, None
        values = tuple(
            _check(data.get(name), dtype, name, nullable=True) for name, dtype in self.inputs
        )
        return key, time_us, event_id, values


def encode_event(fields: dict[str, Any]) -> bytes:
    """A message for :meth:`EventSchema.decode` (datetimes as ISO 8601 strings).

    Example:
        >>> encode_event({"user_id": 1, "ts": datetime(2026, 1, 1, tzinfo=UTC)})
        b'{"user_id":1,"ts":"2026-01-01T00:00:00+00:00"}'
    """
    return orjson.dumps(fields)
