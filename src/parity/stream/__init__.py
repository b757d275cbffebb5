"""Stream processing: aggregation views updated from Redis Streams or NATS JetStream.

The same :class:`~parity.definitions.Aggregation` definitions that the offline engine
computes in SQL are computed here incrementally, from exact per-entity state
(:mod:`parity.stream.state`), checkpointed in Redis, at least once with idempotent
application. See docs/streaming.md.

``redis`` and ``nats`` are imported only when a transport is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parity.stream.config import StreamSettings
from parity.stream.metrics import StreamMetrics

if TYPE_CHECKING:
    from parity.stream.base import Message, StreamTransport, partition_of

__all__ = ["Message", "StreamMetrics", "StreamSettings", "StreamTransport", "partition_of"]


def __getattr__(name: str) -> Any:
    # The transport seam (and orjson with it) loads on first use: parity.config imports
    # StreamSettings for ``stream:`` in parity.yaml, and ``import parity`` stays light.
    if name in ("Message", "StreamTransport", "partition_of"):
        from parity.stream import base

        return getattr(base, name)
    raise AttributeError(f"module 'parity.stream' has no attribute {name!r}")
