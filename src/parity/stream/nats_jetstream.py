"""NATS JetStream transport: one subject per partition, one durable consumer per partition.

Partition ``p`` of stream ``txns`` is the subject ``txns.p`` of the JetStream stream
``PARITY_txns``; each consumer group has a durable pull consumer ``{group}_{p}`` per
partition (explicit acks, delivery from the start of the stream). A message not
acknowledged within ``ack_wait_seconds`` is delivered again. A partition's new owner gets
what a killed owner had not checkpointed *first and in stream order*: it restarts the
durable consumer at its ack floor (left to the ack wait, newer messages would come first,
and the offline appender takes each group's raw events in stream-sequence order). Dead
letters go to the subject ``parity_dead.txns`` of the stream ``PARITY_DEAD_txns``, the
reason in a header.

``nats-py`` is asyncio; the transport runs its own event loop, so the processor stays a
plain synchronous loop. ``nats`` is imported when a transport is built.

Example:
    >>> transport = NatsJetStreamTransport("nats://127.0.0.1:4222",  # doctest: +SKIP
    ...     stream="txns", group="txn_stats_v1", ack_wait_seconds=30)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from parity.stream.base import Message, StreamTransport

T = TypeVar("T")


def stream_names(stream: str) -> tuple[str, str]:
    """The JetStream stream names of events and dead letters for a stream prefix.

    Example:
        >>> stream_names("shop.txns")
        ('PARITY_shop_txns', 'PARITY_DEAD_shop_txns')
    """
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", stream)
    return f"PARITY_{safe}", f"PARITY_DEAD_{safe}"


class NatsJetStreamTransport(StreamTransport):
    """Pull consumers on ``{stream}.{partition}`` subjects.

    Example:
        >>> transport.publish(0, [b'{"user_id": 1}'])  # doctest: +SKIP
    """

    def __init__(self, url: str, *, stream: str, group: str, ack_wait_seconds: float) -> None:
        import nats

        self.stream = stream
        self.group = group
        self.ack_wait_seconds = ack_wait_seconds
        self.events_stream, self.dead_stream = stream_names(stream)
        self._loop = asyncio.new_event_loop()
        self._nc = self._run(nats.connect(url))
        self._js = self._nc.jetstream()
        self._subscriptions: dict[int, Any] = {}
        self._run(self._ensure_streams())

    @classmethod
    def connect(
        cls, url: str, /, *, stream: str, group: str, consumer: str, ack_wait_seconds: float
    ) -> NatsJetStreamTransport:
        """A transport for ``group`` (its durable consumers are per partition, so the
        member name ``consumer`` is not needed).

        Example:
            >>> NatsJetStreamTransport.connect("nats://127.0.0.1:4222", stream="txns",
            ...     group="g", consumer="c", ack_wait_seconds=30).group  # doctest: +SKIP
            'g'
        """
        return cls(url, stream=stream, group=group, ack_wait_seconds=ack_wait_seconds)

    @staticmethod
    def server_errors() -> tuple[type[BaseException], ...]:
        """Socket errors, timeouts and every nats-py error.

        Example:
            >>> TimeoutError in NatsJetStreamTransport.server_errors()  # doctest: +SKIP
            True
        """
        import nats.errors

        return (OSError, TimeoutError, nats.errors.Error)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def _run_all(self, coroutines: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
        async def together() -> list[T]:
            # gather inside the loop: its futures must belong to this transport's loop.
            return list(await asyncio.gather(*coroutines))

        return self._run(together())

    async def _ensure_streams(self) -> None:
        from nats.js.errors import NotFoundError

        for name, subject in (
            (self.events_stream, f"{self.stream}.*"),
            (self.dead_stream, f"parity_dead.{self.stream}"),
        ):
            try:
                await self._js.stream_info(name)
            except NotFoundError:
                await self._js.add_stream(name=name, subjects=[subject])

    def acquire(self, partition: int, /) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        if partition in self._subscriptions:
            return
        durable = f"{self.group}_{partition}"
        start = self._run(self._restart_at_ack_floor(durable))
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL if start is None else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_wait=self.ack_wait_seconds,
            max_ack_pending=100_000,
        )
        self._subscriptions[partition] = self._run(
            self._js.pull_subscribe(
                f"{self.stream}.{partition}",
                durable=durable,
                stream=self.events_stream,
                config=config,
            )
        )

    async def _restart_at_ack_floor(self, durable: str) -> int | None:
        """If the durable consumer has unacknowledged messages (a previous owner's),
        delete it and return the stream sequence to recreate it at (its ack floor + 1),
        so they are delivered again now and in order; else None (keep or create it)."""
        from nats.js.errors import NotFoundError

        try:
            info = await self._js.consumer_info(self.events_stream, durable)
        except NotFoundError:
            return None
        if not info.num_ack_pending:
            return None
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        await self._js.delete_consumer(self.events_stream, durable)
        return (floor or 0) + 1

    def poll(
        self, partitions: Sequence[int], /, *, max_messages: int, timeout_ms: int
    ) -> list[Message]:
        owned = [p for p in partitions if p in self._subscriptions]
        if not owned:
            return []
        share = max(1, max_messages // len(owned))
        batches = self._run_all([self._fetch(p, share, max(timeout_ms, 1) / 1000) for p in owned])
        return [message for batch in batches for message in batch]

    async def _fetch(self, partition: int, count: int, timeout: float) -> list[Message]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            received = await self._subscriptions[partition].fetch(count, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []
        return [
            Message(
                partition,
                str(m.metadata.sequence.stream),
                m.data,
                m,
                int(m.metadata.timestamp.timestamp() * 1_000_000),
            )
            for m in received
        ]

    def ack(self, messages: Sequence[Message], /) -> None:
        if messages:
            self._run_all([m.handle.ack() for m in messages])

    def dead_letter(self, message: Message, reason: str, /) -> None:
        headers = {
            "reason": reason[:1000],
            "partition": str(message.partition),
            "message_id": message.message_id,
            "group": self.group,
        }
        payload = fit_dead_letter(message.payload, headers, max_payload=self._nc.max_payload)
        self._run(self._js.publish(f"parity_dead.{self.stream}", payload, headers=headers))

    def publish(self, partition: int, payloads: Sequence[bytes], /) -> None:
        subject = f"{self.stream}.{partition}"
        self._run_all([self._js.publish(subject, p) for p in payloads])

    def close(self) -> None:
        try:
            self._run(self._nc.close())
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._run_all([_settle(task) for task in pending])
        finally:
            self._loop.close()


# NATS/1.0 line, CRLFs and ": " per header, the blank line; and room for the server's own.
_HEADER_OVERHEAD = 64


def fit_dead_letter(payload: bytes, headers: dict[str, str], *, max_payload: int) -> bytes:
    """The payload of a dead letter, cut to fit the server's ``max_payload`` with its headers.

    A message near the limit cannot be republished whole with headers added: the publish
    fails, the message is never acknowledged and every restart dies on it (a poison message
    blocks its partition). When it does not fit, the dead letter keeps the first bytes and
    the headers ``truncated``, ``payload_bytes`` and ``payload_sha256`` (of the whole
    payload) are added to ``headers``; the original stays in the events stream under its
    ``message_id`` until the stream's retention removes it.

    Example:
        >>> headers = {"reason": "not JSON"}
        >>> len(fit_dead_letter(b"x" * 1000, headers, max_payload=500)) < 500
        True
        >>> headers["truncated"], headers["payload_bytes"]
        ('true', '1000')
    """
    import hashlib

    def header_bytes() -> int:
        return _HEADER_OVERHEAD + sum(len(k) + len(v) + 4 for k, v in headers.items())

    if len(payload) + header_bytes() <= max_payload:
        return payload
    headers["truncated"] = "true"
    headers["payload_bytes"] = str(len(payload))
    headers["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    return payload[: max(0, max_payload - header_bytes())]


async def _settle(task: asyncio.Task[Any]) -> None:
    try:
        await task
    except (asyncio.CancelledError, Exception):
        return
