"""Raw events reach the offline store exactly once through the spool and the appender
process: across an appender crash after its Delta commit, a killed appender process,
redelivered spool entries, and with no appender at all (they wait, and the error says so)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from deltalake import DeltaTable

import parity as p
from parity.stream.consistency import online_against_offline
from parity.stream.offline_appender import (
    AppenderJob,
    OfflineAppender,
    OfflineAppendStalled,
)
from parity.stream.processor import StreamProcessor

from .test_redis_streams import drain, events, publish, settings, specs

pytestmark = pytest.mark.redis


class AppenderDied(Exception):
    """Stands for the process dying between its Delta commit and the spool confirmation."""


def _events_in_log(store: p.FeatureStore) -> Counter[tuple[Any, ...]]:
    spec, _ = specs(store)
    log = DeltaTable(spec.source.path).to_pyarrow_table().to_pylist()
    return Counter((row["user_id"], row["ts"], row["amount"]) for row in log)


def _expected(items: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter((i["user_id"], i["ts"], i["amount"]) for i in items)


def _checkpoint_without_appender(processor: StreamProcessor) -> None:
    """Checkpoint (state and spool written, messages acknowledged) with no appender."""
    with pytest.raises(OfflineAppendStalled):
        processor.checkpoint()


def test_checkpoint_without_an_appender_raises_stalled_naming_the_fix_and_keeps_the_events(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(50, seed=41)
    config = settings(redis_url, unique_prefix, offline_appender="none", offline_wait_seconds=0.3)
    with p.FeatureStore(stream_repo) as store:
        processor = StreamProcessor.for_view(store, "txn_stats", settings=config)
        assert processor.appender is None
        publish(processor, items)
        with pytest.raises(OfflineAppendStalled, match="append-offline") as raised:
            drain(processor, len(items))
        assert "spooled" in str(raised.value) and processor.group in str(raised.value)
        spec, _ = specs(store)
        assert not DeltaTable.is_deltatable(spec.source.path)  # nothing appended yet
        client = redis.Redis.from_url(redis_url)
        spooled = sum(
            client.xlen(f"{processor.coordinator.prefix}:spool:{part}") for part in range(2)
        )
        client.close()
        assert spooled > 0  # the events wait in the spool
        # An appender started later (the sidecar's job) appends them, once.
        job = AppenderJob.for_view(store, "txn_stats", settings=config, member="sidecar")
        appender = OfflineAppender(job)
        assert appender.acquire()
        while appender.step():
            pass
        appender.release()
        appender.close()
        assert _events_in_log(store) == _expected(items)
        processor.checkpoint()  # now nothing is behind
        assert processor.metrics.offline_rows_appended == len(items)
        processor.shutdown()


def test_appender_dying_after_its_delta_commit_appends_nothing_twice_on_redelivery(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    first_items, second_items = events(120, seed=42), events(80, seed=43)
    for n, item in enumerate(second_items):
        item["event_id"] = f"second-{n}"
    config = settings(
        redis_url,
        unique_prefix,
        offline_appender="none",
        offline_wait_seconds=0.2,
        lease_seconds=1.0,
    )
    with p.FeatureStore(stream_repo) as store:
        processor = StreamProcessor.for_view(store, "txn_stats", settings=config)
        publish(processor, first_items)
        _checkpoint_without_appender_after(processor, len(first_items))
        job = AppenderJob.for_view(store, "txn_stats", settings=config, member="doomed")
        doomed = OfflineAppender(job)
        assert doomed.acquire()

        def die(*_: Any, **__: Any) -> None:
            raise AppenderDied

        doomed.coordinator.confirm_spools = die  # type: ignore[method-assign]
        with pytest.raises(AppenderDied):
            doomed.step()  # committed to Delta, then "died": the entries stay spooled
        doomed.close()
        assert _events_in_log(store) == _expected(first_items)
        # More events spool meanwhile; the next appender waits for the dead one's lease.
        publish(processor, second_items)
        _checkpoint_without_appender_after(processor, len(first_items) + len(second_items))
        heir = OfflineAppender(
            AppenderJob.for_view(store, "txn_stats", settings=config, member="heir")
        )
        assert not heir.acquire()  # the dead appender's lease has not expired yet
        deadline = time.monotonic() + 5
        while not heir.acquire():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        confirmed = 0
        while step := heir.step():
            confirmed += step
        heir.release()
        heir.close()
        # The redelivered entries (already in the table) were confirmed, not appended again.
        assert confirmed > 0
        assert heir.rows_appended == len(second_items)
        everything = first_items + second_items
        assert _events_in_log(store) == _expected(everything)
        processor.checkpoint()
        processor.shutdown()


def _checkpoint_without_appender_after(processor: StreamProcessor, received: int) -> None:
    deadline = time.monotonic() + 20
    while processor.metrics.received < received:
        assert time.monotonic() < deadline
        processor.step()
    _checkpoint_without_appender(processor)


def test_killed_appender_process_is_restarted_and_nothing_is_lost_or_doubled(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(900, seed=44)
    config = settings(redis_url, unique_prefix, lease_seconds=1.0, checkpoint_interval_seconds=0.05)
    with p.FeatureStore(stream_repo) as store:
        processor = StreamProcessor.for_view(store, "txn_stats", settings=config)
        assert processor.appender is not None
        killed = processor.appender.pid
        for start in range(0, len(items), 100):
            publish(processor, items[start : start + 100])
            deadline = time.monotonic() + 20
            while processor.metrics.received < start + 100:
                assert time.monotonic() < deadline
                processor.step()
            if start == 300:
                os.kill(killed, signal.SIGKILL)  # mid-stream, whatever it was doing
        deadline = time.monotonic() + 20
        while processor.metrics.appender_restarts == 0:
            assert time.monotonic() < deadline
            processor.step()
            time.sleep(0.01)
        assert processor.appender.pid != killed
        processor.checkpoint()  # waits for the new appender to catch up
        assert _events_in_log(store) == _expected(items)
        assert processor.metrics.offline_rows_appended == len(items)
        spec, table = specs(store)
        keys = sorted({(i["user_id"],) for i in items})
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, report.examples
        processor.shutdown()
        assert not processor.appender.alive()


def test_one_delta_commit_records_each_partitions_last_spooled_sequence(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(200, seed=45)
    config = settings(redis_url, unique_prefix)
    with p.FeatureStore(stream_repo) as store:
        processor = StreamProcessor.for_view(store, "txn_stats", settings=config)
        publish(processor, items)
        drain(processor, len(items))
        spec, _ = specs(store)
        table = DeltaTable(spec.source.path)
        prefix = processor.coordinator.prefix
        for partition, sequence in processor._spooled.items():
            assert table.transaction_version(f"{prefix}:{partition}") == sequence
        processor.shutdown()
