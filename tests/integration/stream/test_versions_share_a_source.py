"""Two view versions of one source (v1 serving, v2 pending) consume the same stream as
two consumer groups on real Redis Streams; the raw-event Delta source still holds every
event exactly once: with both running, with v1 stopped mid-stream, with v2 started after
v1 appended everything, and with two appenders committing at the same time."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

import parity as p
from parity.definitions import Aggregation
from parity.errors import OfflineAppendStalled
from parity.offline.base import ViewReadSpec
from parity.online.base import ViewTable
from parity.stream.consistency import online_against_offline, replay_and_compare
from parity.stream.offline_appender import (
    AppenderProcess,
    OfflineAppender,
)
from parity.stream.processor import StreamProcessor

from .conftest import TXN_STATS, USER
from .test_redis_streams import events, publish, settings

pytestmark = pytest.mark.redis

# A breaking change (one more aggregation): a new version with the same source and inputs.
TXN_STATS_V2 = p.FeatureView(
    "txn_stats",
    entities=[USER],
    source=TXN_STATS.source,
    aggregations=[
        *TXN_STATS.aggregations,
        Aggregation("amount", "min", timedelta(hours=1), name="min_1h"),
    ],
)


@pytest.fixture
def two_versions(stream_repo: Path) -> Path:
    with p.FeatureStore(stream_repo) as store:
        store.apply([USER, TXN_STATS_V2], message="v2 of txn_stats")
        assert store.get_feature_view("txn_stats@v2").aggregations[-1].name == "min_1h"
    return stream_repo


def _spec_and_table(store: p.FeatureStore, version: int) -> tuple[ViewReadSpec, ViewTable]:
    view = store.get_feature_view(f"txn_stats@v{version}")
    spec = ViewReadSpec.from_view(view, version=version, repo_root=store.repo_path)
    return spec, ViewTable.from_view(view, project=store.project, version=version)


def _log(store: p.FeatureStore) -> Counter[tuple[Any, ...]]:
    spec, _ = _spec_and_table(store, 1)
    rows = DeltaTable(spec.source.path).to_pyarrow_table().to_pylist()
    return Counter((r["user_id"], r["ts"], r["amount"]) for r in rows)


def _once(items: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter((i["user_id"], i["ts"], i["amount"]) for i in items)


def _until(processors: list[StreamProcessor], received: int) -> None:
    deadline = time.monotonic() + 30
    while any(pr.metrics.received < received for pr in processors):
        assert time.monotonic() < deadline, [pr.metrics.to_dict() for pr in processors]
        for processor in processors:
            processor.step()


def _online_equals_offline(store: p.FeatureStore, items: list[dict[str, Any]]) -> None:
    keys = sorted({(i["user_id"],) for i in items})
    for version in (1, 2):
        spec, table = _spec_and_table(store, version)
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, (version, report.examples)


def test_two_versions_consuming_one_stream_append_each_event_once_and_agree_online(
    two_versions: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(600, seed=61)
    config = settings(redis_url, unique_prefix)
    with p.FeatureStore(two_versions) as store:
        v1 = store.stream_processor("txn_stats@v1", settings=config)
        v2 = store.stream_processor("txn_stats@v2", settings=config)
        assert v1.group != v2.group
        for start in range(0, len(items), 150):
            publish(v1, items[start : start + 150])
            _until([v1, v2], start + 150)
        v1.checkpoint()  # each waits until its own spool is confirmed
        v2.checkpoint()
        assert _log(store) == _once(items)
        # Each group confirmed every row it spooled, appended by it or by the other.
        assert v1.metrics.offline_rows_appended == len(items)
        assert v2.metrics.offline_rows_appended == len(items)
        _online_equals_offline(store, items)
        spec, _ = _spec_and_table(store, 2)
        replayed = replay_and_compare(store.offline_engine, spec, instants=3, samples=60)
        assert replayed.compared > 0 and replayed.ok, replayed.examples
        v1.shutdown()
        v2.shutdown()


def test_v1_stopped_mid_stream_while_v2_continues_leaves_no_gap_and_no_duplicate(
    two_versions: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(800, seed=62)
    config = settings(redis_url, unique_prefix)
    with p.FeatureStore(two_versions) as store:
        v1 = store.stream_processor("txn_stats@v1", settings=config)
        v2 = store.stream_processor("txn_stats@v2", settings=config)
        publish(v1, items[:300])
        _until([v1], 300)
        _until([v2], 150)  # v2 behind when v1 retires
        v1.shutdown()  # retired: its checkpointed events are appended, its appender gone
        publish(v2, items[300:])
        _until([v2], len(items))
        v2.checkpoint()
        assert _log(store) == _once(items)
        keys = sorted({(i["user_id"],) for i in items})
        spec, table = _spec_and_table(store, 2)
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, report.examples
        v2.shutdown()


def test_v2_started_after_v1_appended_everything_appends_nothing(
    two_versions: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(400, seed=63)
    config = settings(redis_url, unique_prefix)
    late = settings(redis_url, unique_prefix, offline_appender="none", offline_wait_seconds=0.3)
    with p.FeatureStore(two_versions) as store:
        v1 = store.stream_processor("txn_stats@v1", settings=config)
        publish(v1, items)
        _until([v1], len(items))
        v1.checkpoint()
        v1.shutdown()
        spec, _ = _spec_and_table(store, 1)
        commits = DeltaTable(spec.source.path).version()
        # v2 starts late: it reads the stream from its start, spools everything...
        v2 = store.stream_processor("txn_stats@v2", settings=late)
        _until([v2], len(items))
        with pytest.raises(OfflineAppendStalled):
            v2.checkpoint()  # no appender of its own yet
        appender = OfflineAppender(
            store.offline_appender_job("txn_stats@v2", settings=late, member="sidecar")
        )
        assert appender.acquire()
        while appender.step():
            pass
        appender.release()
        appender.close()
        # ...and its appender confirms it all without appending (or committing) anything.
        assert appender.rows_appended == 0 and appender.rows_skipped == len(items)
        assert DeltaTable(spec.source.path).version() == commits
        v2.checkpoint()
        assert v2.metrics.offline_rows_appended == len(items)
        assert _log(store) == _once(items)
        _online_equals_offline(store, items)
        v2.shutdown()


def test_an_appender_whose_snapshot_another_group_overtook_retries_and_skips_its_events(
    two_versions: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(300, seed=64)
    config = settings(redis_url, unique_prefix, offline_appender="none", offline_wait_seconds=0.3)
    with p.FeatureStore(two_versions) as store:
        v1 = store.stream_processor("txn_stats@v1", settings=config)
        v2 = store.stream_processor("txn_stats@v2", settings=config)
        publish(v1, items)
        _until([v1, v2], len(items))
        for processor in (v1, v2):
            with pytest.raises(OfflineAppendStalled):
                processor.checkpoint()  # both spools hold every event
        first, second = (
            OfflineAppender(store.offline_appender_job(ref, settings=config, member=f"m-{ref}"))
            for ref in ("txn_stats@v1", "txn_stats@v2")
        )
        assert first.acquire() and second.acquire()
        snapshot = first._snapshot

        def overtaken() -> Any:
            stale = snapshot()
            if first.conflicts == 0:
                while second.step():  # commits between first's snapshot and its commit
                    pass
            return stale

        first._snapshot = overtaken  # type: ignore[method-assign]
        while first.step():
            pass
        assert first.conflicts == 1 and first.rows_appended == 0
        assert second.rows_appended == len(items)
        assert _log(store) == _once(items)
        for appender in (first, second):
            appender.release()
            appender.close()
        v1.checkpoint()
        v2.checkpoint()
        v1.shutdown()
        v2.shutdown()


def test_two_appender_processes_draining_two_groups_at_once_append_each_event_once(
    two_versions: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(1500, seed=65)
    config = settings(redis_url, unique_prefix, offline_appender="none", offline_wait_seconds=0.3)
    with p.FeatureStore(two_versions) as store:
        v1 = store.stream_processor("txn_stats@v1", settings=config)
        v2 = store.stream_processor("txn_stats@v2", settings=config)
        for start in range(0, len(items), 100):
            publish(v1, items[start : start + 100])
            _until([v1, v2], start + 100)
            for processor in (v1, v2):
                with pytest.raises(OfflineAppendStalled):
                    processor.checkpoint()  # one spool entry per partition and group
        jobs = [
            dataclasses.replace(
                store.offline_appender_job(ref, settings=config, member=f"p-{ref}"),
                interval_seconds=0.0,
            )
            for ref in ("txn_stats@v1", "txn_stats@v2")
        ]
        processes = [AppenderProcess(job) for job in jobs]  # two real processes, racing
        try:
            for processor in (v1, v2):
                processor.settings = processor.settings.model_copy(
                    update={"offline_wait_seconds": 60.0}
                )
                processor.checkpoint()  # returns once its group's spool is confirmed
        finally:
            for process in processes:
                process.stop()
        assert _log(store) == _once(items)
        _online_equals_offline(store, items)
        v1.shutdown()
        v2.shutdown()
