"""Raw events reach the offline store exactly once through the spool and the appender
process: across an appender crash after its Delta commit, a killed appender process,
redelivered spool entries, and with no appender at all (they wait, and the error says so)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from deltalake import DeltaTable
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import parity as p
from parity.errors import OfflineAppendStalled
from parity.offline.aggregations import events_spec
from parity.offline.base import ViewReadSpec
from parity.stream.consistency import online_against_offline
from parity.stream.coordination import Checkpoint
from parity.stream.offline_appender import (
    AppenderJob,
    OfflineAppender,
    message_position,
)
from parity.stream.processor import StreamProcessor

from .conftest import TXN_STATS
from .test_redis_streams import T0, drain, events, publish, settings, specs

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
        processor = store.stream_processor("txn_stats", settings=config)
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
        job = store.offline_appender_job("txn_stats", settings=config, member="sidecar")
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
        processor = store.stream_processor("txn_stats", settings=config)
        publish(processor, first_items)
        _checkpoint_without_appender_after(processor, len(first_items))
        job = store.offline_appender_job("txn_stats", settings=config, member="doomed")
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
            store.offline_appender_job("txn_stats", settings=config, member="heir")
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
        processor = store.stream_processor("txn_stats", settings=config)
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


def _last_positions(redis_url: str, stream: str) -> dict[int, int]:
    client = redis.Redis.from_url(redis_url)
    out = {}
    for partition in range(2):
        last = client.xrevrange(f"{stream}:{partition}", count=1)
        if last:
            out[partition] = message_position(last[0][0].decode())
    client.close()
    return out


def test_the_delta_commit_records_each_source_partitions_highest_message_position(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    items = events(200, seed=45)
    config = settings(redis_url, unique_prefix)
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor("txn_stats", settings=config)
        publish(processor, items)
        drain(processor, len(items))
        spec, _ = specs(store)
        table = DeltaTable(spec.source.path)
        last = _last_positions(redis_url, config.stream)
        assert set(last) == {0, 1}
        for partition, position in last.items():
            app_id = f"parity:source:{config.stream}:{partition}"
            assert table.transaction_version(app_id) == position
        processor.shutdown()


def test_a_checkpoint_of_only_rejected_messages_quarantines_them_and_records_its_position(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    with p.FeatureStore(stream_repo) as store:
        processor = store.stream_processor("txn_stats", settings=settings(redis_url, unique_prefix))
        processor.transport.publish(0, [b"poison", b"[]"])
        drain(processor, 2)
        spec, _ = specs(store)
        table = DeltaTable(spec.source.path)
        assert table.to_pyarrow_table().num_rows == 0
        stream = processor.settings.stream
        assert (
            table.transaction_version(f"parity:source:{stream}:0")
            == _last_positions(redis_url, stream)[0]
        )
        quarantined = DeltaTable(str(store.offline_path / "quarantine" / "txn_stats"))
        assert quarantined.to_pyarrow_table().num_rows == 2
        processor.shutdown()


# Two consumer groups (view versions v1, v2) of one source stream, one partition of
# EVENTS messages: a group spools its next n messages as one checkpoint, or its appender
# runs, or dies after its Delta commit (before confirming) or before it.
EVENTS = 30
_GROUPS = st.sampled_from(["v1", "v2"])
_ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("spool"), _GROUPS, st.integers(0, 6)),
        st.tuples(
            st.sampled_from(["step", "die_after_commit", "die_before_commit"]),
            _GROUPS,
            st.none(),
        ),
    ),
    max_size=14,
)


def _message_id(position: int) -> str:
    return f"{1_700_000_000_000 + position // 3}-{position % 3}"  # Redis ids, 3 per ms


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=_ACTIONS, v1_retires=st.booleans())
def test_two_groups_of_one_source_append_every_event_exactly_once_whatever_the_interleaving(
    redis_url: str, actions: list[tuple[str, str, int | None]], v1_retires: bool
) -> None:
    prefix = f"parity_test_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        spec = events_spec(ViewReadSpec.from_view(TXN_STATS, version=1, repo_root=tmp))
        jobs = {
            group: AppenderJob(
                raw_spec=spec,
                quarantine_root=Path(tmp) / "quarantine",
                coordination_url=redis_url,
                stream=f"{prefix}_txns",
                prefix=f"{prefix}:{group}",
                partitions=1,
                lease_ms=60_000,
                member="m",
            )
            for group in ("v1", "v2")
        }
        # Their coordinators write checkpoints like each group's processor.
        spoolers = {group: OfflineAppender(job) for group, job in jobs.items()}
        sequence = dict.fromkeys(jobs, 0)
        cursor = dict.fromkeys(jobs, 0)
        t0 = int(T0.timestamp() * 1_000_000)

        def spool(group: str, n: int) -> None:
            positions = range(cursor[group] + 1, min(cursor[group] + n, EVENTS) + 1)
            cursor[group] += len(positions)
            sequence[group] += 1
            rows = {
                "user_id": list(positions),
                "ts": [t0 + 1000 * (EVENTS - k) for k in positions],  # event time: any order
                "amount": [float(k) for k in positions],
                "merchant": ["m"] * len(positions),
                "created": t0,
            }
            spoolers[group].coordinator.save(
                0,
                Checkpoint(sequence=sequence[group]),
                upserts={},
                removed=(),
                spool={
                    "rows": orjson.dumps(rows),
                    "ids": orjson.dumps([_message_id(k) for k in positions]),
                },
            )

        def appender(group: str) -> OfflineAppender:
            fresh = OfflineAppender(jobs[group])
            spoolers[group].coordinator.release("appender", "m")  # the dead one's, expired
            assert fresh.acquire()
            return fresh

        for action, group, n in actions:
            if action == "spool" and n is not None:
                spool(group, n)
                continue
            worker = appender(group)
            if action == "die_after_commit":
                worker.coordinator.confirm_spools = _die  # type: ignore[method-assign]
            elif action == "die_before_commit":
                worker._append_fresh = _die  # type: ignore[method-assign]
            with contextlib.suppress(AppenderDied):
                worker.step()
            worker.close()
        # v2 reads the stream to its end and its appender drains; v1 is retired (its
        # spool left as it is) or drains too.
        spool("v2", EVENTS)
        for group in ("v2",) if v1_retires else ("v1", "v2"):
            final = appender(group)
            while final.step():
                pass
            final.close()
            assert spoolers[group].coordinator.offline_done().get(0, 0) == sequence[group]
        for spooler in spoolers.values():
            spooler.coordinator.release("appender", "m")
            spooler.close()
        log = DeltaTable(spec.source.path).to_pyarrow_table()
        assert sorted(log.column("user_id").to_pylist()) == list(range(1, EVENTS + 1))
        version = DeltaTable(spec.source.path).transaction_version(f"parity:source:{prefix}_txns:0")
        assert version == message_position(_message_id(EVENTS))
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _die(*_: Any, **__: Any) -> None:
    raise AppenderDied


def test_processor_refuses_a_parquet_event_source_naming_delta_as_the_fix(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    import dataclasses

    from parity.errors import SchemaMismatch

    parquet = p.ParquetSource("data/txns.parquet", timestamp_field="ts")
    view = dataclasses.replace(TXN_STATS, source=parquet)
    with p.FeatureStore(stream_repo) as store:
        spec = ViewReadSpec.from_view(view, version=1, repo_root=stream_repo)
        with pytest.raises(SchemaMismatch, match=r"DeltaSource\(\.\.\.\)"):
            StreamProcessor(
                view,
                version=1,
                project=store.project,
                spec=spec,
                online=store.online_store,
                engine=store.offline_engine,
                settings=settings(redis_url, unique_prefix),
                quarantine_root=store.offline_path / "quarantine",
            )
