"""The stream processor on the real NATS JetStream server: online equals offline,
redelivered and republished events count once, bad events become dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import parity as p
from parity.stream import StreamSettings, partition_of
from parity.stream.consistency import online_against_offline, read_event_log
from parity.stream.events import encode_event
from parity.stream.nats_jetstream import stream_names
from parity.stream.processor import StreamProcessor

from .test_redis_streams import PARTITIONS, events, specs

pytestmark = [pytest.mark.nats, pytest.mark.redis]


@pytest.fixture
def nats_stream(nats_url: str, unique_prefix: str) -> Iterator[str]:
    """A stream prefix of its own; its JetStream streams are deleted afterwards."""
    yield f"{unique_prefix}_txns"

    async def drop() -> None:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for name in stream_names(f"{unique_prefix}_txns"):
            with contextlib.suppress(NotFoundError):  # a stream the test never created
                await js.delete_stream(name)
        await nc.close()

    asyncio.run(drop())


def _settings(nats_url: str, redis_url: str, stream: str, **extra: Any) -> StreamSettings:
    args: dict[str, Any] = {
        "transport": "nats",
        "url": nats_url,
        "coordination_url": redis_url,
        "stream": stream,
        "partitions": PARTITIONS,
        "checkpoint_interval_seconds": 0.1,
        "lease_seconds": 2.0,
        "poll_timeout_ms": 20,
        "allowed_lateness_seconds": 86_400.0 * 30,
        "future_tolerance_seconds": 86_400.0 * 3650,
        "ack_wait_seconds": 2.0,
    }
    args.update(extra)
    return StreamSettings(**args)


def _publish(processor: StreamProcessor, items: list[dict[str, Any]]) -> None:
    by_partition: dict[int, list[bytes]] = {}
    for item in items:
        by_partition.setdefault(partition_of((item["user_id"],), PARTITIONS), []).append(
            encode_event(item)
        )
    for partition, payloads in by_partition.items():
        processor.transport.publish(partition, payloads)


def _drain(processor: StreamProcessor, expected: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while processor.metrics.received < expected:
        assert time.monotonic() < deadline, processor.metrics.to_dict()
        processor.step()
    processor.checkpoint()


def test_nats_stream_online_equals_offline_and_counts_each_event_once(
    stream_repo: Path, nats_url: str, redis_url: str, nats_stream: str
) -> None:
    items = events(300, seed=21)
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor(
            "txn_stats", settings=_settings(nats_url, redis_url, nats_stream)
        )
        processor.rebalance()
        _publish(processor, items)
        _publish(processor, items[:30])  # a producer retry: same event ids
        processor.transport.publish(0, [b"poison", b'{"user_id": 1}'])
        _drain(processor, len(items) + 32)
        assert processor.metrics.applied == len(items)
        assert processor.metrics.duplicates == 30
        assert processor.metrics.dead_lettered == 2
        spec, table = specs(store)
        assert read_event_log(spec).num_rows == len(items)
        keys = sorted({(i["user_id"],) for i in items})
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, report.examples
        processor.shutdown()


def test_unacknowledged_nats_messages_are_redelivered_to_the_next_owner(
    stream_repo: Path, nats_url: str, redis_url: str, nats_stream: str
) -> None:
    items = events(100, seed=22)
    config = _settings(nats_url, redis_url, nats_stream, lease_seconds=1.0)
    with p.FeatureStore(stream_repo) as store:
        never = config.model_copy(update={"checkpoint_interval_seconds": 3600.0})
        first = store.stream_processor("txn_stats", settings=never, member="first")
        first.rebalance()
        _publish(first, items)
        deadline = time.monotonic() + 20
        while first.metrics.received < len(items):
            assert time.monotonic() < deadline
            first.step()
        assert first.metrics.checkpoints == 0
        # "Crash": nothing checkpointed or acknowledged; the process just disappears (and
        # its offline appender child with it).
        first.transport.close()
        first.coordinator.close()
        assert first.appender is not None
        first.appender.stop()
        second = store.stream_processor("txn_stats", settings=config, member="second")
        deadline = time.monotonic() + 30
        while second.metrics.applied < len(items):
            assert time.monotonic() < deadline, second.metrics.to_dict()
            second.step()
        second.checkpoint()
        spec, table = specs(store)
        assert read_event_log(spec).num_rows == len(items)
        keys = sorted({(i["user_id"],) for i in items})
        assert online_against_offline(
            store.offline_engine, store.online_store, spec, table, keys
        ).ok
        second.shutdown()


def test_a_poison_message_near_max_payload_is_dead_lettered_and_the_partition_moves_on(
    stream_repo: Path, nats_url: str, redis_url: str, nats_stream: str
) -> None:
    # Fails on main: republishing it with headers exceeded max_payload, the connection
    # reset and the processor exited; unacknowledged, it killed every restart the same way.
    import hashlib

    items = events(20, seed=5)
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor(
            "txn_stats", settings=_settings(nats_url, redis_url, nats_stream)
        )
        processor.rebalance()
        limit = processor.transport._nc.max_payload  # type: ignore[attr-defined]
        poison = b"{" + b"x" * (limit - 100)  # malformed JSON, just under the limit
        processor.transport.publish(0, [poison])
        _publish(processor, items)
        _drain(processor, len(items) + 1, timeout=30)
        assert processor.metrics.dead_lettered == 1
        assert processor.metrics.applied == len(items)
        processor.shutdown()

    async def dead_letters() -> list[Any]:
        import nats

        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"parity_dead.{nats_stream}", durable=None)
        found = await sub.fetch(10, timeout=5)
        await nc.close()
        return found

    [letter] = asyncio.run(dead_letters())
    assert letter.headers["truncated"] == "true"
    assert letter.headers["payload_bytes"] == str(len(poison))
    assert letter.headers["payload_sha256"] == hashlib.sha256(poison).hexdigest()
    assert poison.startswith(letter.data) and len(letter.data) < limit
