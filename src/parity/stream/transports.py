"""The stream transport kinds (``--transport``, ``server.push.streams.*.transport``).

:data:`STREAM_TRANSPORTS` maps a kind to its :class:`~parity.stream.base.StreamTransport`
class, imported only when a transport is opened (``redis`` and ``nats`` stay out of
``import parity``). Adding a transport (Kafka, a CDC feed) is one module implementing
:class:`~parity.stream.base.StreamTransport` plus one registration line here.

Example:
    >>> STREAM_TRANSPORTS.kinds
    ('redis', 'nats')
    >>> STREAM_TRANSPORTS.factory("redis").__name__
    'RedisStreamsTransport'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parity.backends import BackendRegistry

if TYPE_CHECKING:
    # Annotations only: StreamSettings (parity.yaml's ``stream:``) validates kinds here
    # without loading the transport seam.
    from parity.stream.base import StreamTransport

__all__ = ["STREAM_TRANSPORTS", "known_transport", "open_transport"]

#: The transport kinds. Transports take the processor's settings, not a section of
#: their own, so no config model is registered.
STREAM_TRANSPORTS: BackendRegistry[type[StreamTransport]] = BackendRegistry("stream transport")
STREAM_TRANSPORTS.register(
    "redis", config=None, factory="parity.stream.redis_streams:RedisStreamsTransport"
)
STREAM_TRANSPORTS.register(
    "nats", config=None, factory="parity.stream.nats_jetstream:NatsJetStreamTransport"
)


def known_transport(kind: str) -> str:
    """``kind`` if it is a registered transport, else a ``ConfigError`` (a ``ValueError``,
    so pydantic reports it where the setting is) with a "did you mean".

    Example:
        >>> known_transport("nats")
        'nats'
    """
    return STREAM_TRANSPORTS.check(kind)


def open_transport(
    kind: str,
    url: str,
    /,
    *,
    stream: str,
    group: str,
    consumer: str,
    ack_wait_seconds: float = 30.0,
) -> StreamTransport:
    """Open a transport of ``kind`` for one consumer of ``group``.

    Example:
        >>> open_transport("redis", "redis://127.0.0.1:6379/0", stream="txns",
        ...                group="g", consumer="c")  # doctest: +SKIP
    """
    return STREAM_TRANSPORTS.factory(kind).connect(
        url, stream=stream, group=group, consumer=consumer, ack_wait_seconds=ack_wait_seconds
    )
