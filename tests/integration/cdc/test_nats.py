"""PostgreSQL change data capture over NATS JetStream into an aggregation view."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import parity as p
from parity.cdc import CaptureSettings
from parity.cdc.postgres import PostgresCapture
from parity.offline.base import ViewReadSpec
from parity.online.base import ReadRequest, ViewTable
from parity.stream import StreamSettings
from parity.stream.consistency import online_against_offline
from parity.stream.nats_jetstream import stream_names

from .conftest import IN_CI
from .test_end_to_end import AGGREGATIONS, ORDER, SOURCES, _drop_keys
from .test_postgres_capture import _create_orders, _table, _wait_caught_up, _writer

pytestmark = [pytest.mark.nats, pytest.mark.redis]
NATS_URL = os.environ.get("PARITY_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def nats_stream(unique_prefix: str) -> Iterator[str]:
    """A stream prefix of its own on the real NATS server; deleted afterwards."""
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1.0):
            pass
    except OSError:
        reason = "NATS is not reachable at 127.0.0.1:4222"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
        pytest.skip(reason)
    yield f"{unique_prefix}_orders"

    async def drop() -> None:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        for name in stream_names(f"{unique_prefix}_orders"):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
        await nc.close()

    asyncio.run(drop())


def test_changes_travel_over_nats_jetstream_to_the_online_store(
    tmp_path: Path, pg_database: str, redis_url: str, unique_prefix: str, nats_stream: str
) -> None:
    (tmp_path / "parity.yaml").write_text(
        f"project: {unique_prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {unique_prefix}}}\n"
    )
    view = p.FeatureView(
        "order_stats", entities=[ORDER], source=SOURCES["postgres"], aggregations=AGGREGATIONS
    )
    _create_orders(pg_database, 200)
    capture = PostgresCapture(
        SOURCES["postgres"],
        project=unique_prefix,
        settings=CaptureSettings(
            dsn=pg_database,
            transport="nats",
            url=NATS_URL,
            coordination_url=redis_url,
            stream=nats_stream,
            slot=unique_prefix,
        ),
    )
    stop_capture, stop_writer = threading.Event(), threading.Event()
    runner = threading.Thread(target=capture.run, kwargs={"stop": stop_capture})
    runner.start()
    try:
        assert capture.streaming.wait(30)
        writer = threading.Thread(target=_writer, args=(pg_database, stop_writer, 200, 11))
        writer.start()
        time.sleep(1.0)
        stop_writer.set()
        writer.join()
        _wait_caught_up(capture, pg_database)
    finally:
        stop_writer.set()
        stop_capture.set()
        runner.join(timeout=30)
    published = capture.metrics.snapshot_rows + capture.metrics.changes_published
    table = _table(pg_database)
    settings = StreamSettings(
        transport="nats",
        url=NATS_URL,
        coordination_url=redis_url,
        stream=nats_stream,
        partitions=4,
        checkpoint_interval_seconds=0.2,
        lease_seconds=2.0,
        allowed_lateness_seconds=3600.0,
        ack_wait_seconds=5.0,
    )
    with p.FeatureStore(tmp_path) as store:
        store.apply([ORDER, view], message="cdc over nats")
        processor = store.stream_processor("order_stats", settings=settings)
        deadline = time.monotonic() + 60
        while processor.metrics.applied < published:
            assert time.monotonic() < deadline, processor.metrics.to_dict()
            processor.step()
        processor.checkpoint()
        assert processor.metrics.applied == published
        record = store.get_feature_view("order_stats@v1")
        spec = ViewReadSpec.from_view(record, version=1, repo_root=store.repo_path)
        online_table = ViewTable.from_view(record, project=store.project, version=1)
        keys = [(k,) for k in range(1, max(table) + 1)]
        [rows] = store.online_store.read([ReadRequest(online_table, keys)])
        names = list(online_table.feature_names)
        for key, row in zip(keys, rows, strict=True):
            if key[0] in table:
                assert row is not None
                value = dict(zip(names, row.values, strict=True))["amount"]
                assert math.isclose(value, table[key[0]][1]), key
        seen = [k for k, r in zip(keys, rows, strict=True) if r is not None]
        report = online_against_offline(
            store.offline_engine, store.online_store, spec, online_table, seen
        )
        assert report.ok, report.examples
        processor.shutdown()
    _drop_keys(redis_url, unique_prefix)
