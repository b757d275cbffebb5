"""PostgreSQL or MariaDB -> capture -> Redis Streams -> processor -> online and Delta, end to end:
snapshot handoff, updates, deletes and a kill -9 of the capture mid-load; the online
values equal a brute-force replay of the database's final state and the offline
point-in-time values (0 lost, 0 doubled)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import parity as p
from parity.cdc import CaptureSettings
from parity.cdc.base import CaptureLedger
from parity.cdc.postgres import PostgresCapture
from parity.offline.base import ViewReadSpec
from parity.online.base import ReadRequest, ViewTable
from parity.stream import StreamSettings
from parity.stream.consistency import (
    online_against_offline,
    read_event_log,
    replay_and_compare,
)

from . import test_mysql_capture as my
from . import test_postgres_capture as pg
from .test_postgres_capture import _events, _replay

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ORDER = p.Entity("order", join_keys=[p.Field("order_id", p.Int64)])
DELTA = p.DeltaSource("data/orders", timestamp_field="ts")
SOURCES = {
    "postgres": p.PostgresCDCSource("orders_cdc", table="public.orders", batch_source=DELTA),
    "mariadb": p.MySQLCDCSource("orders_cdc", table="orders", batch_source=DELTA),
}
AGGREGATIONS = [
    p.Aggregation("amount", "count", timedelta(minutes=10), name="changes_10m"),
    p.Aggregation("amount", "sum", timedelta(hours=1), name="amount_sum_1h"),
    p.Aggregation("amount", "last", timedelta(days=1), name="amount"),
    p.Aggregation("amount", "max", timedelta(hours=1), name="amount_max_1h"),
]

# The capture as its own process, so the test can kill -9 it.
_CAPTURE = """
import json, sys, threading
import parity as p
from parity.cdc import CaptureSettings
from parity.cdc.mysql import MySQLCapture
from parity.cdc.postgres import PostgresCapture
delta = p.DeltaSource("data/orders", timestamp_field="ts")
settings = CaptureSettings(**json.loads(sys.argv[1]))
if sys.argv[3] == "postgres":
    source = p.PostgresCDCSource("orders_cdc", table="public.orders", batch_source=delta)
    capture = PostgresCapture(source, project=sys.argv[2], settings=settings)
else:
    source = p.MySQLCDCSource("orders_cdc", table="orders", batch_source=delta)
    capture = MySQLCapture(source, project=sys.argv[2], settings=settings)
capture.run(stop=threading.Event())
"""


def _start_capture(
    settings: CaptureSettings, project: str, backend: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _CAPTURE, json.dumps(settings.model_dump()), project, backend],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _drop_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [*client.scan_iter(match=f"{prefix}*"), *client.scan_iter(match=f"parity:*{prefix}*")]
    if keys:
        client.delete(*keys)
    client.close()


class _Database:
    """One backend's table helpers: create, write, read, wait for the capture."""

    def __init__(self, backend: str, dsn: str) -> None:
        self.backend, self.dsn = backend, dsn
        self.module = pg if backend == "postgres" else my

    def create(self, rows: int) -> None:
        self.module._create_orders(self.dsn, rows)

    def writer(self, stop: threading.Event, rows: int) -> threading.Thread:
        return threading.Thread(target=self.module._writer, args=(self.dsn, stop, rows, 7))

    def table(self) -> dict[int, Any]:
        return self.module._table(self.dsn)

    def wait_caught_up(
        self, ledger: CaptureLedger, settings: CaptureSettings, project: str
    ) -> None:
        if self.backend == "postgres":
            capture = PostgresCapture(SOURCES["postgres"], project=project, settings=settings)
            pg._wait_caught_up(capture, self.dsn)
            return
        file, pos = my._master_position(self.dsn)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            position = ledger.position()
            if position is not None:
                c_file, c_pos, _ = position.rsplit(":", 2)
                if (c_file, int(c_pos)) >= (file, pos):
                    return
            time.sleep(0.05)
        raise AssertionError(f"the capture did not catch up to {file}:{pos}")


@pytest.fixture(params=["postgres", "mariadb"])
def database(request: pytest.FixtureRequest) -> _Database:
    fixture = "pg_database" if request.param == "postgres" else "mariadb_database"
    return _Database(request.param, request.getfixturevalue(fixture))


def test_cdc_feeds_an_aggregation_view_through_a_capture_crash(
    tmp_path: Path, database: _Database, redis_url: str, unique_prefix: str
) -> None:
    source = SOURCES[database.backend]
    order_stats = p.FeatureView(
        "order_stats", entities=[ORDER], source=source, aggregations=AGGREGATIONS
    )
    (tmp_path / "parity.yaml").write_text(
        f"project: {unique_prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {unique_prefix}}}\n"
    )
    stream = f"{unique_prefix}_orders"
    capture_settings = CaptureSettings(
        dsn=database.dsn,
        url=redis_url,
        coordination_url=redis_url,
        stream=stream,
        key_columns=("order_id",),
    )
    database.create(400)
    stop_writer = threading.Event()
    writer = database.writer(stop_writer, 400)
    writer.start()
    capture = _start_capture(capture_settings, unique_prefix, database.backend)
    ledger = CaptureLedger(redis_url, capture_settings.slot_for(unique_prefix, source.name))
    try:
        deadline = time.monotonic() + 30
        while not ledger.snapshot_done():  # snapshot taken while the writer writes
            assert time.monotonic() < deadline and capture.poll() is None
            time.sleep(0.05)
        time.sleep(1.0)
        capture.send_signal(signal.SIGKILL)  # mid-load, between confirmations
        capture.wait()
        capture = _start_capture(capture_settings, unique_prefix, database.backend)
        time.sleep(1.5)
        stop_writer.set()
        writer.join()
        database.wait_caught_up(ledger, capture_settings, unique_prefix)
    finally:
        stop_writer.set()
        capture.send_signal(signal.SIGKILL)
        capture.wait()
        ledger.forget()
        ledger.close()

    # The capture: every change once by id, nothing missing (a replay equals the table).
    published = _events(redis_url, stream, capture_settings.partitions)
    assert {e["__op"] for e in published} == {"r", "c", "u", "d"}
    final = _replay(published)
    table = database.table()
    assert set(final) == set(table)
    distinct = len({e["event_id"] for e in published})

    settings = StreamSettings(
        url=redis_url,
        coordination_url=redis_url,
        stream=stream,
        partitions=capture_settings.partitions,
        checkpoint_interval_seconds=0.2,
        lease_seconds=2.0,
        poll_timeout_ms=5,
        allowed_lateness_seconds=3600.0,
    )
    with p.FeatureStore(tmp_path) as store:
        store.apply([ORDER, order_stats], message="cdc end to end")
        processor = store.stream_processor("order_stats", settings=settings)
        deadline = time.monotonic() + 60
        # Until every distinct change is applied (a loaded machine may expire a lease and
        # redeliver a batch: more messages than were published are then received).
        while processor.metrics.applied < distinct:
            assert time.monotonic() < deadline, processor.metrics.to_dict()
            processor.step()
        processor.checkpoint()
        # 0 doubled: redeliveries of the crash (and of a moved lease) are recognised by id.
        assert processor.metrics.applied == distinct
        assert processor.metrics.duplicates >= len(published) - distinct
        assert processor.metrics.dead_lettered == 0

        view = store.get_feature_view("order_stats@v1")
        spec = ViewReadSpec.from_view(view, version=1, repo_root=store.repo_path)
        online_table = ViewTable.from_view(view, project=store.project, version=1)
        # Training sees what serving saw: each applied change (and retraction) once.
        assert read_event_log(spec).num_rows == distinct
        keys = sorted({(e["order_id"],) for e in published})
        [rows] = store.online_store.read([ReadRequest(online_table, keys)])
        names = list(online_table.feature_names)
        for key, row in zip(keys, rows, strict=True):
            assert row is not None, key
            values = dict(zip(names, row.values, strict=True))
            if key[0] in table:  # 0 lost: the latest value of every live row
                assert math.isclose(values["amount"], table[key[0]][1]), (key, values)
            else:  # a delete retracts the entity's value
                assert values["changes_10m"] == 0 and values["amount"] is None, (key, values)
        report = online_against_offline(
            store.offline_engine, store.online_store, spec, online_table, keys
        )
        assert report.compared == len(keys) and report.ok, report.examples
        replayed = replay_and_compare(store.offline_engine, spec, instants=4, samples=80)
        assert replayed.compared > 0 and replayed.ok, replayed.examples
        processor.shutdown()
    _drop_keys(redis_url, unique_prefix)
    ops = {e["__op"] for e in published}
    assert ops == {"r", "c", "u", "d"}, ops


def _stream_length(redis_url: str, stream: str, partitions: int) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return sum(int(client.xlen(f"{stream}:{n}")) for n in range(partitions))
    finally:
        client.close()


def test_a_crash_during_the_initial_snapshot_doubles_no_row(
    tmp_path: Path, database: _Database, redis_url: str, unique_prefix: str
) -> None:
    """kill -9 of the capture while it publishes the snapshot, then a restart: the retaken
    snapshot republishes each unchanged row under the same id, so the processor applies
    every row once (a count over the snapshot is 1 per key, not 2). Fails on the ids
    before (#18): they named the snapshot's position, which a retaken snapshot changes."""
    rows = 20_000
    source = SOURCES[database.backend]
    counted = p.FeatureView(
        "order_rows",
        entities=[ORDER],
        source=source,
        aggregations=[p.Aggregation("amount", "count", timedelta(days=1), name="rows_1d")],
    )
    (tmp_path / "parity.yaml").write_text(
        f"project: {unique_prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {unique_prefix}}}\n"
    )
    stream = f"{unique_prefix}_orders"
    capture_settings = CaptureSettings(
        dsn=database.dsn,
        url=redis_url,
        coordination_url=redis_url,
        stream=stream,
        key_columns=("order_id",),
        snapshot_batch_rows=100,
    )
    database.create(rows)
    ledger = CaptureLedger(redis_url, capture_settings.slot_for(unique_prefix, source.name))
    capture = _start_capture(capture_settings, unique_prefix, database.backend)
    try:
        deadline = time.monotonic() + 60
        while _stream_length(redis_url, stream, capture_settings.partitions) == 0:
            assert time.monotonic() < deadline and capture.poll() is None
            time.sleep(0.01)
        capture.send_signal(signal.SIGKILL)  # mid-snapshot
        capture.wait()
        assert not ledger.snapshot_done(), "the snapshot finished before the kill"
        partial = _stream_length(redis_url, stream, capture_settings.partitions)
        assert 0 < partial < rows
        capture = _start_capture(capture_settings, unique_prefix, database.backend)
        deadline = time.monotonic() + 120
        while not ledger.snapshot_done():
            assert time.monotonic() < deadline and capture.poll() is None
            time.sleep(0.05)
    finally:
        capture.send_signal(signal.SIGKILL)
        capture.wait()
        ledger.forget()
        ledger.close()

    published = _events(redis_url, stream, capture_settings.partitions)
    snapshot = [e for e in published if e["__op"] == "r"]
    assert len(snapshot) >= rows + partial  # the retaken snapshot published every row again
    ids_by_key: dict[int, set[str]] = {}
    for event in snapshot:
        ids_by_key.setdefault(event["order_id"], set()).add(event["event_id"])
    assert set(ids_by_key) == set(database.table())
    assert all(len(ids) == 1 for ids in ids_by_key.values()), "a row under two ids"

    settings = StreamSettings(
        url=redis_url,
        coordination_url=redis_url,
        stream=stream,
        partitions=capture_settings.partitions,
        checkpoint_interval_seconds=0.2,
        lease_seconds=5.0,
        poll_timeout_ms=5,
        allowed_lateness_seconds=3600.0,
    )
    with p.FeatureStore(tmp_path) as store:
        store.apply([ORDER, counted], message="snapshot crash")
        processor = store.stream_processor("order_rows", settings=settings)
        deadline = time.monotonic() + 120
        while processor.metrics.applied < rows:
            assert time.monotonic() < deadline, processor.metrics.to_dict()
            processor.step()
        processor.checkpoint()
        assert processor.metrics.applied == rows
        assert processor.metrics.duplicates >= len(snapshot) - rows
        view = store.get_feature_view("order_rows@v1")
        online_table = ViewTable.from_view(view, project=store.project, version=1)
        keys = [(k,) for k in sorted(ids_by_key)]
        [values] = store.online_store.read([ReadRequest(online_table, keys)])
        counts = [None if row is None else row.values[0] for row in values]
        assert counts == [1] * rows, [c for c in counts if c != 1][:5]
        processor.shutdown()
    _drop_keys(redis_url, unique_prefix)
