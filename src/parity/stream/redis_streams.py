"""Redis Streams transport: one stream per partition, one consumer group per view version.

Partition ``p`` of stream ``txns`` is the Redis stream ``txns:p``; dead letters go to
``txns:dead``. Consumers read with ``XREADGROUP`` (their own unacknowledged messages
first, after a restart), acknowledge with ``XACK`` once a checkpoint covers the
messages, and take over a previous owner's unacknowledged messages with ``XAUTOCLAIM``
when they acquire its partition.

``redis`` is imported when a transport is built, never by ``import parity``.

Example:
    >>> transport = RedisStreamsTransport("redis://127.0.0.1:6379/0",  # doctest: +SKIP
    ...     stream="txns", group="txn_stats_v1", consumer="host-42")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parity.stream.base import Message, StreamTransport


class RedisStreamsTransport(StreamTransport):
    """Consumer-group reads of ``{stream}:{partition}`` streams.

    Example:
        >>> transport.publish(0, [b'{"user_id": 1}'])  # doctest: +SKIP
    """

    def __init__(self, url: str, *, stream: str, group: str, consumer: str) -> None:
        import redis

        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._client = redis.Redis.from_url(url)
        # Partitions whose own pending messages (delivered before a restart, or claimed)
        # are not drained yet -> the id after which to read them.
        self._backlog: dict[int, str] = {}

    @classmethod
    def connect(
        cls, url: str, /, *, stream: str, group: str, consumer: str, ack_wait_seconds: float
    ) -> RedisStreamsTransport:
        """A transport for ``consumer`` of ``group`` (Redis needs no redelivery wait:
        unacknowledged messages stay pending until claimed).

        Example:
            >>> RedisStreamsTransport.connect("redis://127.0.0.1:6379/0", stream="txns",
            ...     group="g", consumer="c", ack_wait_seconds=30).consumer  # doctest: +SKIP
            'c'
        """
        return cls(url, stream=stream, group=group, consumer=consumer)

    @staticmethod
    def server_errors() -> tuple[type[BaseException], ...]:
        """Socket errors and every redis-py error.

        Example:
            >>> OSError in RedisStreamsTransport.server_errors()
            True
        """
        import redis.exceptions

        return (OSError, TimeoutError, redis.exceptions.RedisError)

    def _key(self, partition: int) -> str:
        return f"{self.stream}:{partition}"

    def acquire(self, partition: int, /) -> None:
        import redis

        key = self._key(partition)
        try:
            # From the beginning: a new group replays the whole retained log.
            self._client.xgroup_create(key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        start = "0-0"
        while True:
            # Messages of consumers that held this partition before (claimed at once: the
            # lease says they are gone).
            start, claimed, *_ = self._client.xautoclaim(
                key, self.group, self.consumer, min_idle_time=0, start_id=start, count=1000
            )
            if not claimed or start in (b"0-0", "0-0"):
                break
        self._backlog[partition] = "0"

    def poll(
        self, partitions: Sequence[int], /, *, max_messages: int, timeout_ms: int
    ) -> list[Message]:
        if not partitions:
            return []
        backlog = [p for p in partitions if p in self._backlog]
        if backlog:
            reply = self._client.xreadgroup(
                self.group,
                self.consumer,
                {self._key(p): self._backlog[p] for p in backlog},
                count=max_messages,
            )
            messages = self._messages(reply)
            for partition in backlog:
                last = [m.message_id for m in messages if m.partition == partition]
                if last:
                    self._backlog[partition] = last[-1]
                else:
                    del self._backlog[partition]
            if messages:
                return messages
        reply = self._client.xreadgroup(
            self.group,
            self.consumer,
            {self._key(p): ">" for p in partitions},
            count=max_messages,
            block=timeout_ms,
        )
        return self._messages(reply)

    def _messages(self, reply: Any) -> list[Message]:
        out: list[Message] = []
        for stream, entries in reply or ():
            name = stream.decode() if isinstance(stream, bytes) else stream
            partition = int(name.rsplit(":", 1)[1])
            for message_id, fields in entries:
                if fields is None:
                    continue  # deleted from the stream after delivery
                text = message_id.decode()
                published_us = int(text.split("-", 1)[0]) * 1000
                out.append(Message(partition, text, fields.get(b"e", b""), None, published_us))
        return out

    def ack(self, messages: Sequence[Message], /) -> None:
        by_partition: dict[int, list[str]] = {}
        for message in messages:
            by_partition.setdefault(message.partition, []).append(message.message_id)
        if not by_partition:
            return
        pipe = self._client.pipeline(transaction=False)
        for partition, ids in by_partition.items():
            pipe.xack(self._key(partition), self.group, *ids)
        pipe.execute()

    def dead_letter(self, message: Message, reason: str, /) -> None:
        self._client.xadd(
            f"{self.stream}:dead",
            {
                "e": message.payload,
                "reason": reason,
                "partition": message.partition,
                "message_id": message.message_id,
                "group": self.group,
            },
        )

    def publish(self, partition: int, payloads: Sequence[bytes], /) -> None:
        pipe = self._client.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(self._key(partition), {"e": payload})
        pipe.execute()

    def close(self) -> None:
        self._client.close()
