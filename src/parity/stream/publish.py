"""Publishing events to a view's stream from outside a processor (the push API).

:func:`route_events` checks each event as the processors of every given view version
would decode it (:meth:`EventSchema.decode`) and puts the valid ones on the partition of
their entity key (:func:`partition_of`, the processors' partitioner);
:func:`open_publisher` opens a transport only to publish.

Example:
    >>> from parity.types import Float64, Int64
    >>> schema = EventSchema(keys=(("user_id", Int64),), timestamp_field="ts",
    ...                      inputs=(("amount", Float64),), id_field="event_id")
    >>> routed = route_events([schema], [{"user_id": 7, "ts": "2026-01-01T00:00:00Z",
    ...                                   "amount": 3, "event_id": "p1:0"}], partitions=4)
    >>> list(routed.partitions), routed.rejected
    ([2], [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parity.errors import BadEvent
from parity.stream.base import StreamTransport, partition_of
from parity.stream.events import EventSchema, encode_event


@dataclass(frozen=True)
class RoutedEvents:
    """Valid events as payloads per partition; ``rejected`` holds ``(index, schema index,
    reason)`` for each event some schema refused (it is published nowhere).

    Example:
        >>> RoutedEvents().published
        0
    """

    partitions: dict[int, list[bytes]] = field(default_factory=dict)
    rejected: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def published(self) -> int:
        """How many events are routed."""
        return sum(len(payloads) for payloads in self.partitions.values())


def route_events(
    schemas: Sequence[EventSchema], events: Sequence[Mapping[str, Any]], /, *, partitions: int
) -> RoutedEvents:
    """The events every schema accepts, encoded, on the partition of their key.

    The key is the first schema's decoded key (the processors' spelling of it, so a
    producer's ``7`` and ``7.0`` cannot land on two partitions).
    """
    routed = RoutedEvents()
    for index, event in enumerate(events):
        payload = encode_event(dict(event))
        key: tuple[Any, ...] | None = None
        for number, schema in enumerate(schemas):
            try:
                decoded = schema.decode(payload)
            except BadEvent as exc:
                routed.rejected.append((index, number, str(exc)))
                key = None
                break
            if key is None:
                key = decoded[0]
        if key is not None:
            routed.partitions.setdefault(partition_of(key, partitions), []).append(payload)
    return routed


def transport_errors(transport: str, /) -> tuple[type[BaseException], ...]:
    """The exceptions by which a transport says its server is unreachable or failing.

    Example:
        >>> OSError in transport_errors("redis")
        True
    """
    from parity.stream.transports import STREAM_TRANSPORTS

    return STREAM_TRANSPORTS.factory(transport).server_errors()


def open_publisher(transport: str, url: str, /, *, stream: str) -> StreamTransport:
    """A transport used only to :meth:`~StreamTransport.publish` (it joins no group).

    Example:
        >>> open_publisher("redis", "redis://127.0.0.1:6379/0", stream="txns")  # doctest: +SKIP
    """
    from parity.stream.transports import open_transport

    return open_transport(
        transport, url, stream=stream, group="parity_push", consumer="parity_push"
    )
