"""On real NATS JetStream, raw events reach the Delta source once per source: two view
versions consuming one stream, and a killed owner's unacknowledged messages (taken over
while newer messages wait) are appended, not skipped as already-passed positions."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import parity as p
from parity.stream.processor import StreamProcessor

from . import test_nats_jetstream as nats_tests
from . import test_versions_share_a_source as shared
from .test_redis_streams import events

pytestmark = [pytest.mark.nats, pytest.mark.redis]

# The fixtures of the Redis and NATS tests, used here too.
nats_stream = nats_tests.nats_stream
two_versions = shared.two_versions


def _until(processors: list[StreamProcessor], applied: int) -> None:
    deadline = time.monotonic() + 30
    while any(pr.metrics.applied < applied for pr in processors):
        assert time.monotonic() < deadline, [pr.metrics.to_dict() for pr in processors]
        for processor in processors:
            processor.step()


def test_two_versions_on_nats_append_each_event_once_and_agree_online(
    two_versions: Path,
    nats_url: str,
    redis_url: str,
    nats_stream: str,
) -> None:
    items = events(400, seed=71)
    config = nats_tests._settings(nats_url, redis_url, nats_stream)
    with p.FeatureStore(two_versions) as store:
        v1 = store.stream_processor("txn_stats@v1", settings=config)
        v2 = store.stream_processor("txn_stats@v2", settings=config)
        v1.rebalance()
        v2.rebalance()
        nats_tests._publish(v1, items)
        _until([v1, v2], len(items))
        v1.checkpoint()
        v2.checkpoint()
        assert shared._log(store) == shared._once(items)
        shared._online_equals_offline(store, items)
        v1.shutdown()
        v2.shutdown()


def test_a_killed_owners_messages_come_back_before_newer_ones_and_reach_the_source(
    stream_repo: Path,
    nats_url: str,
    redis_url: str,
    nats_stream: str,
) -> None:
    first_items, later_items = events(100, seed=72), events(100, seed=73)
    for n, item in enumerate(later_items):
        item["event_id"] = f"later-{n}"
    config = nats_tests._settings(nats_url, redis_url, nats_stream, lease_seconds=1.0)
    with p.FeatureStore(stream_repo) as store:
        never = config.model_copy(update={"checkpoint_interval_seconds": 3600.0})
        first = store.stream_processor("txn_stats", settings=never, member="first")
        first.rebalance()
        nats_tests._publish(first, first_items)
        _until([first], len(first_items))
        # "Crash": nothing checkpointed or acknowledged.
        first.transport.close()
        first.coordinator.close()
        assert first.appender is not None
        first.appender.stop()
        _publish_with(nats_url, nats_stream, later_items)  # newer messages wait too
        second = store.stream_processor("txn_stats", settings=config, member="second")
        everything: list[dict[str, Any]] = first_items + later_items
        _until([second], len(everything))
        second.checkpoint()
        assert shared._log(store) == shared._once(everything)
        second.shutdown()


def _publish_with(nats_url: str, stream: str, items: list[dict[str, Any]]) -> None:
    from parity.stream.nats_jetstream import NatsJetStreamTransport

    transport = NatsJetStreamTransport(
        nats_url, stream=stream, group="producer", ack_wait_seconds=1
    )
    try:
        nats_tests._publish(SimpleNamespace(transport=transport), items)  # type: ignore[arg-type]
    finally:
        transport.close()
