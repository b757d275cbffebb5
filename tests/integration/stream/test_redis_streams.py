"""The stream processor on real Redis Streams: online equals offline, exactly once in
effect, dead letters, late events, restarts."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import parity as p
from parity.offline.base import ViewReadSpec
from parity.stream import StreamSettings, partition_of
from parity.stream.consistency import online_against_offline, read_event_log, replay_and_compare
from parity.stream.events import encode_event
from parity.stream.processor import StreamProcessor

pytestmark = pytest.mark.redis

T0 = datetime(2026, 6, 1, tzinfo=UTC)
PARTITIONS = 2


def settings(redis_url: str, prefix: str, **extra: Any) -> StreamSettings:
    args: dict[str, Any] = {
        "url": redis_url,
        "coordination_url": redis_url,
        "stream": f"{prefix}_txns",
        "partitions": PARTITIONS,
        "checkpoint_interval_seconds": 0.1,
        "lease_seconds": 2.0,
        "poll_timeout_ms": 5,
        "allowed_lateness_seconds": 86_400.0 * 30,
        "future_tolerance_seconds": 86_400.0 * 365 * 10,
    }
    args.update(extra)
    return StreamSettings(**args)


def events(n: int, *, seed: int = 1, users: int = 20) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            {
                "event_id": f"e{i}",
                "user_id": rng.randint(1, users),
                "ts": T0 + timedelta(seconds=rng.randint(0, 4 * 3600)),
                "amount": round(rng.uniform(0, 500), 2),
                "merchant": rng.choice(["a", "b", "c", "d"]),
            }
        )
    return out


def publish(processor: StreamProcessor, items: list[dict[str, Any]]) -> None:
    by_partition: dict[int, list[bytes]] = {}
    for item in items:
        partition = partition_of((item["user_id"],), PARTITIONS)
        by_partition.setdefault(partition, []).append(encode_event(item))
    for partition, payloads in by_partition.items():
        processor.transport.publish(partition, payloads)


def drain(processor: StreamProcessor, expected: int, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while processor.metrics.received < expected:
        assert time.monotonic() < deadline, processor.metrics.to_dict()
        processor.step()
    processor.checkpoint()


def specs(store: p.FeatureStore) -> tuple[ViewReadSpec, Any]:
    from parity.online.base import ViewTable

    view = store.get_feature_view("txn_stats@v1")
    spec = ViewReadSpec.from_view(view, version=1, repo_root=store.repo_path)
    return spec, ViewTable.from_view(view, project=store.project, version=1)


def test_online_equals_offline_after_a_stream_of_events(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(600)
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor("txn_stats", settings=settings(redis_url, unique_prefix))
        publish(processor, items)
        drain(processor, len(items))
        assert processor.metrics.applied == len(items)
        assert processor.metrics.offline_rows_appended == len(items)
        spec, table = specs(store)
        assert read_event_log(spec).num_rows == len(items)  # training sees what serving saw
        keys = sorted({(i["user_id"],) for i in items})
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, report.examples
        replayed = replay_and_compare(store.offline_engine, spec, instants=4, samples=80)
        assert replayed.compared > 0 and replayed.ok, replayed.examples
        processor.shutdown()


def test_redelivered_and_republished_events_count_once(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(200, seed=2)
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor("txn_stats", settings=settings(redis_url, unique_prefix))
        publish(processor, items)
        publish(processor, items[:50])  # a producer retrying: same event ids
        drain(processor, len(items) + 50)
        assert processor.metrics.applied == len(items)
        assert processor.metrics.duplicates == 50
        spec, table = specs(store)
        assert read_event_log(spec).num_rows == len(items)
        keys = sorted({(i["user_id"],) for i in items})
        assert online_against_offline(
            store.offline_engine, store.online_store, spec, table, keys
        ).ok
        processor.shutdown()


def test_bad_events_go_to_dead_letters_and_quarantine_and_the_processor_keeps_running(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    import redis

    good = events(20, seed=3)
    bad = [
        b"not json",
        b"[1, 2]",
        encode_event({"ts": T0, "amount": 1.0, "merchant": "a"}),  # no key
        encode_event({"user_id": 1, "amount": 1.0, "merchant": "a"}),  # no timestamp
        encode_event({"user_id": "x", "ts": T0, "amount": 1.0, "merchant": "a"}),  # wrong type
        b'{"user_id": 1, "ts": "2026-06-01T00:00:00", "amount": 1.0}',  # naive timestamp
        encode_event({"user_id": 1, "ts": T0, "amount": "lots", "merchant": "a"}),
    ]
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor("txn_stats", settings=settings(redis_url, unique_prefix))
        processor.transport.publish(0, bad)
        publish(processor, good)
        drain(processor, len(good) + len(bad))
        assert processor.metrics.dead_lettered == len(bad)
        assert processor.metrics.applied == len(good)
        client = redis.Redis.from_url(redis_url)
        dead = client.xrange(f"{unique_prefix}_txns:dead")
        client.close()
        reasons = [fields[b"reason"].decode() for _, fields in dead]
        assert len(reasons) == len(bad)
        assert any("naive timestamp" in r for r in reasons)
        assert any("user_id is missing" in r for r in reasons)
        assert any("not JSON" in r for r in reasons)
        from deltalake import DeltaTable

        quarantined = DeltaTable(
            str(store.offline_path / "quarantine" / "txn_stats")
        ).to_pyarrow_table()
        assert sorted(quarantined.column("reason").to_pylist()) == sorted(reasons)
        processor.shutdown()


def test_late_events_within_lateness_apply_and_later_ones_are_dropped_and_counted(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    base = {"user_id": 7, "merchant": "a", "amount": 1.0}
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor(
            "txn_stats",
            settings=settings(redis_url, unique_prefix, allowed_lateness_seconds=60),
        )
        publish(processor, [{**base, "event_id": "now", "ts": T0 + timedelta(minutes=10)}])
        drain(processor, 1)
        publish(
            processor,
            [
                {**base, "event_id": "late_ok", "ts": T0 + timedelta(minutes=9, seconds=30)},
                {**base, "event_id": "too_late", "ts": T0 + timedelta(minutes=8)},
            ],
        )
        drain(processor, 3)
        assert processor.metrics.applied == 2 and processor.metrics.late_dropped == 1
        spec, table = specs(store)
        assert read_event_log(spec).num_rows == 2  # the dropped one is not in training either
        report = online_against_offline(
            store.offline_engine, store.online_store, spec, table, [(7,)]
        )
        assert report.ok, report.examples
        processor.shutdown()


def test_two_processes_of_one_group_share_the_partitions(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(400, seed=5)
    config = settings(redis_url, unique_prefix, partitions=4, lease_seconds=1.0)
    with p.FeatureStore(stream_repo) as store:
        first = store.stream_processor("txn_stats", settings=config, member="one")
        second = store.stream_processor("txn_stats", settings=config, member="two")
        first.rebalance()
        second.rebalance()
        deadline = time.monotonic() + 10
        while len(first._partitions) + len(second._partitions) < 4 or len(first._partitions) > 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
            first.rebalance()
            second.rebalance()
        assert len(first._partitions) == 2 and len(second._partitions) == 2
        by_partition: dict[int, list[bytes]] = {}
        for item in items:
            by_partition.setdefault(partition_of((item["user_id"],), 4), []).append(
                encode_event(item)
            )
        for partition, payloads in by_partition.items():
            first.transport.publish(partition, payloads)
        deadline = time.monotonic() + 20
        while first.metrics.received + second.metrics.received < len(items):
            assert time.monotonic() < deadline
            first.step()
            second.step()
        first.checkpoint()
        second.checkpoint()
        assert first.metrics.applied > 0 and second.metrics.applied > 0
        assert first.metrics.applied + second.metrics.applied == len(items)
        spec, table = specs(store)
        keys = sorted({(i["user_id"],) for i in items})
        assert online_against_offline(
            store.offline_engine, store.online_store, spec, table, keys
        ).ok
        first.shutdown()
        second.shutdown()


def test_run_stops_on_the_stop_event(stream_repo: Path, redis_url: str, unique_prefix: str) -> None:
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor("txn_stats", settings=settings(redis_url, unique_prefix))
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        processor.run(stop=stop, max_seconds=10)
        assert time.monotonic() - started < 5
