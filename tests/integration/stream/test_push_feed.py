"""The push API feeds aggregation views through their stream, on real Redis Streams.

A push whose source feeds an aggregation view publishes the rows as raw events (event id
``{push_id}:{row}``) to ``server.push.streams.<source>``; the view's processor computes
the values, and its offline appender puts each event in the Delta source exactly once,
also when the push is retried.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import parity as p
from parity.config import load_config
from parity.definitions import Aggregation
from parity.errors import OnlineStoreUnavailable, SchemaMismatch
from parity.offline.base import ViewReadSpec
from parity.online.base import ViewTable
from parity.stream import StreamSettings
from parity.stream.consistency import online_against_offline, read_event_log, replay_and_compare
from parity.stream.processor import StreamProcessor

from .conftest import USER

pytestmark = pytest.mark.redis

T0 = datetime(2026, 6, 1, tzinfo=UTC)
PARTITIONS = 2
TXN_PUSH = p.PushSource("txn_push", batch_source=p.DeltaSource("data/txns", timestamp_field="ts"))
SPEND = p.FeatureView(
    "spend",
    entities=[USER],
    source=TXN_PUSH,
    aggregations=[
        Aggregation("amount", "count", timedelta(minutes=10), name="txns_10m"),
        Aggregation("amount", "sum", timedelta(hours=1), name="spend_1h"),
        Aggregation("amount", "max", timedelta(hours=2), name="max_2h"),
        Aggregation(
            "merchant", "count_distinct", timedelta(hours=1), dtype="string", name="merchants_1h"
        ),
    ],
)


def write_repo(root: Path, redis_url: str, prefix: str, *, transport: str, url: str) -> Path:
    """``spend`` over push source ``txn_push``, whose stream is ``{prefix}_txns``."""
    (root / "parity.yaml").write_text(
        f"project: {prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {prefix}}}\n"
        "server:\n  push:\n    streams:\n"
        f"      txn_push: {{transport: {transport}, url: '{url}', stream: {prefix}_txns,"
        f" partitions: {PARTITIONS}}}\n"
    )
    with p.FeatureStore(root) as store:
        store.apply([USER, SPEND], message="push feed tests")
    return root


@pytest.fixture
def push_repo(tmp_path: Path, redis_url: str, unique_prefix: str) -> Iterator[Path]:
    """The push feeds Redis Streams."""
    yield write_repo(tmp_path, redis_url, unique_prefix, transport="redis", url=redis_url)
    import redis

    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{unique_prefix}*", f"parity:stream:{unique_prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()


def settings(redis_url: str, prefix: str, **transport: Any) -> StreamSettings:
    """The processor's side: the same transport, url, stream and partitions as the push."""
    return StreamSettings(
        **{"url": redis_url, **transport},
        coordination_url=redis_url,
        stream=f"{prefix}_txns",
        partitions=PARTITIONS,
        checkpoint_interval_seconds=0.1,
        lease_seconds=2.0,
        poll_timeout_ms=5,
        allowed_lateness_seconds=86_400.0 * 30,
        future_tolerance_seconds=86_400.0 * 365 * 10,
    )


def rows(n: int, *, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "user_id": rng.randint(1, 15),
            "ts": T0 + timedelta(seconds=rng.randint(0, 4 * 3600)),
            "amount": round(rng.uniform(0, 500), 2),
            "merchant": rng.choice(["a", "b", "c"]),
        }
        for _ in range(n)
    ]


def stream_length(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return sum(int(client.xlen(f"{prefix}_txns:{q}")) for q in range(PARTITIONS))
    finally:
        client.close()


def drain(processor: StreamProcessor, expected: int, *, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while processor.metrics.received < expected:
        assert time.monotonic() < deadline, processor.metrics.to_dict()
        processor.step()
    processor.checkpoint()


def test_pushed_events_are_aggregated_online_and_appended_offline_exactly_once(
    push_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = rows(150)
    with p.FeatureStore(push_repo) as store:
        first = store.push("txn_push", items, push_id="batch-1")
        assert (first.rows_written, first.rows_rejected, first.replayed) == (150, 0, False)
        assert first.streams == {f"{unique_prefix}_txns": 150}
        assert first.online == {} and first.offline is None  # the processor and appender do
        # A retry of the completed push is answered from the ledger: nothing is published.
        again = store.push("txn_push", items, push_id="batch-1")
        assert again.replayed and again.streams == first.streams
        assert stream_length(redis_url, unique_prefix) == 150
    # A retry whose ledger record is gone (an attempt interrupted before it finished, or
    # a ledger on another online store) publishes again: the same event ids.
    other = load_config(
        push_repo, environ={"PARITY__ONLINE_STORE__KEY_PREFIX": f"{unique_prefix}_other"}
    )
    with p.FeatureStore(push_repo, config=other) as elsewhere:
        retried = elsewhere.push("txn_push", items, push_id="batch-1")
        assert (retried.rows_written, retried.replayed) == (150, False)
    assert stream_length(redis_url, unique_prefix) == 300

    with p.FeatureStore(push_repo) as store:
        processor = store.stream_processor("spend", settings=settings(redis_url, unique_prefix))
        drain(processor, 300)
        assert processor.metrics.applied == 150
        assert processor.metrics.duplicates == 150
        assert processor.metrics.offline_rows_appended == 150
        view = store.get_feature_view("spend@v1")
        spec = ViewReadSpec.from_view(view, version=1, repo_root=store.repo_path)
        table = ViewTable.from_view(view, project=store.project, version=1)
        log = read_event_log(spec)
        assert log.num_rows == 150  # each pushed event once, after two publications
        keys = sorted({(i["user_id"],) for i in items})
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, report.examples
        replayed = replay_and_compare(store.offline_engine, spec, instants=4, samples=60)
        assert replayed.compared > 0 and replayed.ok, replayed.examples
        processor.shutdown()


def test_rows_the_processor_would_dead_letter_are_rejected_and_not_published(
    push_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    good = rows(3, seed=2)
    bad = [
        {"user_id": 1, "ts": "2026-06-01T00:00:00", "amount": 1.0, "merchant": "a"},  # naive
        {"user_id": "x", "ts": T0, "amount": 1.0, "merchant": "a"},  # key of the wrong type
    ]
    with p.FeatureStore(push_repo) as store:
        result = store.push("txn_push", [*good, *bad], push_id="with-rejects")
        retried = store.push("txn_push", [*good, *bad], push_id="with-rejects")
        quarantine = store.offline_path / "quarantine" / "spend"
    assert (result.rows_written, result.rows_rejected) == (3, 2)
    assert [r["row"] for r in result.rejected] == [3, 4]
    assert "naive" in result.rejected[0]["reason"]
    assert all(r["view"] == "spend@v1" for r in result.rejected)
    assert retried.replayed and retried.rejected == result.rejected
    assert stream_length(redis_url, unique_prefix) == 3
    # The rejected rows are quarantined once, as sent, with their reasons.
    from deltalake import DeltaTable

    held = DeltaTable(str(quarantine)).to_pyarrow_table().to_pylist()
    assert len(held) == 2
    assert sorted(r["reason"] for r in held) == sorted(r["reason"] for r in result.rejected)
    assert all('"with-rejects"' in r["row"] for r in held)


def test_a_push_to_an_aggregation_view_must_go_online_and_offline(
    push_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    with p.FeatureStore(push_repo) as store:
        for to in ("online", "offline"):
            with pytest.raises(SchemaMismatch, match="online_and_offline"):
                store.push("txn_push", rows(2), to=to)
    assert stream_length(redis_url, unique_prefix) == 0


@pytest.mark.nats
def test_pushed_events_reach_a_nats_jetstream_processor_once(
    tmp_path: Path, redis_url: str, nats_url: str, unique_prefix: str
) -> None:
    import asyncio
    import contextlib

    from parity.stream.nats_jetstream import stream_names

    root = write_repo(tmp_path, redis_url, unique_prefix, transport="nats", url=nats_url)
    items = rows(80, seed=5)
    try:
        with p.FeatureStore(root) as store:
            assert store.push("txn_push", items, push_id="n-1").rows_written == 80
        other = load_config(
            root, environ={"PARITY__ONLINE_STORE__KEY_PREFIX": f"{unique_prefix}_other"}
        )
        with p.FeatureStore(root, config=other) as elsewhere:
            assert not elsewhere.push("txn_push", items, push_id="n-1").replayed
        with p.FeatureStore(root) as store:
            processor = store.stream_processor(
                "spend",
                settings=settings(
                    redis_url, unique_prefix, transport="nats", url=nats_url, ack_wait_seconds=2.0
                ),
            )
            drain(processor, 160)
            assert (processor.metrics.applied, processor.metrics.duplicates) == (80, 80)
            view = store.get_feature_view("spend@v1")
            spec = ViewReadSpec.from_view(view, version=1, repo_root=store.repo_path)
            table = ViewTable.from_view(view, project=store.project, version=1)
            assert read_event_log(spec).num_rows == 80
            keys = sorted({(i["user_id"],) for i in items})
            report = online_against_offline(
                store.offline_engine, store.online_store, spec, table, keys
            )
            assert report.compared == len(keys) and report.ok, report.examples
            processor.shutdown()
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        for pattern in (f"{unique_prefix}*", f"parity:stream:{unique_prefix}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
        client.close()

        async def drop() -> None:
            import nats
            from nats.js.errors import NotFoundError

            nc = await nats.connect(nats_url)
            js = nc.jetstream()
            for name in stream_names(f"{unique_prefix}_txns"):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(name)
            await nc.close()

        asyncio.run(drop())


def test_a_stream_outage_is_transient_and_the_retry_completes_the_push(
    push_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    broken = load_config(push_repo, environ={"PARITY__SERVER__PUSH__STREAMS__TXN_PUSH__URL": dead})
    items = rows(3, seed=4)
    with (
        p.FeatureStore(push_repo, config=broken) as store,
        pytest.raises(OnlineStoreUnavailable, match="same push_id"),
    ):
        store.push("txn_push", items, push_id="out-1")
    with p.FeatureStore(push_repo) as store:
        retried = store.push("txn_push", items, push_id="out-1")
    assert (retried.rows_written, retried.replayed) == (3, True)
    assert stream_length(redis_url, unique_prefix) == 3
