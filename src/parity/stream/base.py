"""The stream transport interface: partitions of messages, consumer groups, acks.

A stream is split into ``partitions``; an event goes to the partition of its entity key
(:func:`partition_of`), so every event of an entity is applied by the one process that
owns that partition, in one exact state. Processes of a consumer group share the
partitions (leases in :mod:`parity.stream.coordination`); a transport only moves bytes.

Example:
    >>> partition_of((7,), 4)
    2
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson


def partition_of(key: tuple[Any, ...], partitions: int) -> int:
    """The partition of an entity key: CRC-32 of its JSON spelling, modulo ``partitions``.

    Producers and consumers must agree on it; it is stable across processes and releases.
    """
    return zlib.crc32(orjson.dumps(list(key))) % partitions


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered message: its partition, transport id, payload, ack handle, and when the
    transport accepted it (UTC microseconds; Redis stream ids carry milliseconds).

    Example:
        >>> Message(0, "1700000000000-0", b"{}").message_id
        '1700000000000-0'
    """

    partition: int
    message_id: str
    payload: bytes
    handle: Any = None
    published_us: int | None = None


class StreamTransport(ABC):
    """Redis Streams or NATS JetStream, behind four calls and a publisher.

    Example:
        >>> transport.poll([0, 1], max_messages=500, timeout_ms=50)  # doctest: +SKIP
        [Message(partition=0, message_id='...', payload=b'{...}', handle=None)]
    """

    @classmethod
    @abstractmethod
    def connect(
        cls, url: str, /, *, stream: str, group: str, consumer: str, ack_wait_seconds: float
    ) -> StreamTransport:
        """Open the transport at ``url`` for one consumer of ``group`` (each kind takes the
        settings it needs: Redis names the consumer, NATS the redelivery wait)."""

    @staticmethod
    @abstractmethod
    def server_errors() -> tuple[type[BaseException], ...]:
        """The exceptions by which this transport says its server is unreachable or failing
        (the client library is imported now, not before)."""

    @abstractmethod
    def acquire(self, partition: int, /) -> None:
        """Start consuming ``partition``: create the group or durable consumer if needed,
        and take over what a previous owner delivered but never acknowledged."""

    @abstractmethod
    def poll(
        self, partitions: Sequence[int], /, *, max_messages: int, timeout_ms: int
    ) -> list[Message]:
        """Up to ``max_messages`` messages of ``partitions``: first those delivered to this
        consumer and not acknowledged (after a restart), then new ones; waits at most
        ``timeout_ms`` when none is there."""

    @abstractmethod
    def ack(self, messages: Sequence[Message], /) -> None:
        """Acknowledge messages: they will not be delivered again."""

    @abstractmethod
    def dead_letter(self, message: Message, reason: str, /) -> None:
        """Publish a message that cannot be applied, with the reason, to the dead letters."""

    @abstractmethod
    def publish(self, partition: int, payloads: Sequence[bytes], /) -> None:
        """Append messages to a partition (producers, replays, tests and benchmarks)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
