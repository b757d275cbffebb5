"""PostgreSQL change data capture against a private server with wal_level=logical."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import parity as p
from parity.cdc import (
    CaptureSettings,
    LogicalReplicationOff,
    ReplicationPrivilegeMissing,
    SlotOwnedElsewhere,
    TableWithoutPrimaryKey,
)
from parity.cdc.postgres import PostgresCapture

from .conftest import start_postgres, stop_postgres

pytestmark = [pytest.mark.redis]

SOURCE = p.PostgresCDCSource(
    "orders_cdc",
    table="public.orders",
    batch_source=p.DeltaSource("data/orders", timestamp_field="ts"),
)


def _execute(dsn: str, *statements: str, params: Any = None) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement, params)
    conn.close()


def _create_orders(dsn: str, rows: int) -> None:
    _execute(
        dsn,
        "CREATE TABLE orders (order_id bigint PRIMARY KEY, amount double precision, "
        "version int NOT NULL, note text, placed timestamptz)",
        "INSERT INTO orders SELECT g, g * 0.5, 0, 'n' || g, now() "
        f"FROM generate_series(1, {rows}) g",
    )


def _events(redis_url: str, stream: str, partitions: int) -> list[dict[str, Any]]:
    import redis

    client = redis.Redis.from_url(redis_url)
    out = []
    for partition in range(partitions):
        for _id, fields in client.xrange(f"{stream}:{partition}"):
            out.append(orjson.loads(fields[b"e"]))
    client.close()
    return out


@pytest.fixture
def settings(pg_database: str, redis_url: str, unique_prefix: str) -> Iterator[CaptureSettings]:
    yield CaptureSettings(
        dsn=pg_database, url=redis_url, coordination_url=redis_url, stream=unique_prefix
    )
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [*client.scan_iter(match=f"{unique_prefix}*"), *client.scan_iter(match="parity:cdc:*")]
    keys = [k for k in keys if unique_prefix.encode() in k or k.startswith(b"parity:cdc:")]
    if keys:
        client.delete(*keys)
    client.close()


def _writer(dsn: str, stop: threading.Event, rows: int, seed: int) -> int:
    """Random updates, deletes and inserts, one transaction each; returns how many."""
    import psycopg2

    rng = random.Random(seed)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    done = 0
    next_id = rows + 1
    with conn.cursor() as cur:
        while not stop.is_set():
            action = rng.random()
            if action < 0.7:
                cur.execute(
                    "UPDATE orders SET version = version + 1, amount = %s WHERE order_id = %s",
                    (rng.random() * 100, rng.randint(1, next_id)),
                )
            elif action < 0.85:
                cur.execute("DELETE FROM orders WHERE order_id = %s", (rng.randint(1, next_id),))
            else:
                cur.execute("INSERT INTO orders VALUES (%s, 1.0, 0, NULL, now())", (next_id,))
                next_id += 1
            done += 1
    conn.close()
    return done


def _replay(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Brute force: apply events once each (by id) in stream order (a key's events are on
    one partition, in commit order); assert versions move by exactly one per update (no
    gap) and never repeat (no duplicate)."""
    state: dict[int, dict[str, Any]] = {}
    seen: set[str] = set()
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        key = event["order_id"]
        if event["__op"] == "d":
            assert key in state, f"delete of {key}, which the stream never had"
            del state[key]
        elif event["__op"] == "u":
            assert state[key]["version"] + 1 == event["version"], (key, state[key], event)
            state[key] = event
        else:
            assert key not in state, f"insert of {key} twice: {event}"
            state[key] = event
    return state


def _table(dsn: str) -> dict[int, tuple[Any, ...]]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT order_id, amount, version FROM orders")
        rows = {r[0]: r for r in cur.fetchall()}
    conn.close()
    return rows


def _wait_caught_up(capture: PostgresCapture, dsn: str, timeout: float = 120.0) -> None:
    """Until the slot confirms every change committed so far."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    deadline = time.monotonic() + timeout
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_insert_lsn()")
        (target,) = cur.fetchone()
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (target, capture.slot),
            )
            row = cur.fetchone()
            if row and row[0]:
                conn.close()
                return
            time.sleep(0.05)
    conn.close()
    raise AssertionError("the capture did not catch up")


def _assert_stream_equals_table(events: list[dict[str, Any]], dsn: str) -> None:
    state = _replay(events)
    table = _table(dsn)
    assert set(state) == set(table)
    for key, row in table.items():
        assert (state[key]["amount"], state[key]["version"]) == (row[1], row[2])


def test_snapshot_hands_off_to_the_stream_with_no_gap_and_no_duplicate(
    settings: CaptureSettings, redis_url: str
) -> None:
    _create_orders(settings.dsn, 3000)
    stop_writer, stop_capture = threading.Event(), threading.Event()
    writer = threading.Thread(target=_writer, args=(settings.dsn, stop_writer, 3000, 1))
    writer.start()
    capture = PostgresCapture(
        SOURCE, project="shop", settings=settings.model_copy(update={"snapshot_batch_rows": 500})
    )
    runner = threading.Thread(target=capture.run, kwargs={"stop": stop_capture})
    try:
        time.sleep(0.2)  # the writer is busy while the slot and its snapshot are taken
        runner.start()
        time.sleep(1.5)
    finally:
        stop_writer.set()
        writer.join()
    _wait_caught_up(capture, settings.dsn)
    stop_capture.set()
    runner.join(timeout=30)
    events = _events(redis_url, settings.stream, settings.partitions)
    assert capture.metrics.snapshot_rows >= 2500
    assert {e["__op"] for e in events} == {"r", "c", "u", "d"}
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was published twice without a crash"
    _assert_stream_equals_table(events, settings.dsn)
    # The event time of a change is its commit time, in UTC.
    assert all(e["ts"].endswith("+00:00") for e in events)
    assert capture.metrics.slot_lag_bytes >= 0


def test_restart_resumes_from_the_confirmed_position(
    settings: CaptureSettings, redis_url: str
) -> None:
    _create_orders(settings.dsn, 50)
    capture = PostgresCapture(SOURCE, project="shop", settings=settings)
    stop = threading.Event()
    runner = threading.Thread(target=capture.run, kwargs={"stop": stop})
    runner.start()
    assert capture.streaming.wait(30)
    _execute(settings.dsn, "UPDATE orders SET version = version + 1 WHERE order_id <= 10")
    _wait_caught_up(capture, settings.dsn)
    stop.set()
    runner.join(timeout=30)
    # Changes while no capture runs stay in the slot...
    _execute(
        settings.dsn,
        "UPDATE orders SET version = version + 1 WHERE order_id <= 5",
        "DELETE FROM orders WHERE order_id = 50",
    )
    restarted = PostgresCapture(SOURCE, project="shop", settings=settings)
    stop = threading.Event()
    runner = threading.Thread(target=restarted.run, kwargs={"stop": stop})
    runner.start()
    _wait_caught_up(restarted, settings.dsn)
    stop.set()
    runner.join(timeout=30)
    # ...and come after the restart, once; no second snapshot.
    assert restarted.metrics.snapshot_rows == 0
    assert restarted.metrics.changes_published == 6
    events = _events(redis_url, settings.stream, settings.partitions)
    assert len(events) == 50 + 10 + 6
    _assert_stream_equals_table(events, settings.dsn)


def test_a_table_without_a_primary_key_is_refused(settings: CaptureSettings) -> None:
    _execute(settings.dsn, "CREATE TABLE orders (order_id bigint, amount float8)")
    with pytest.raises(TableWithoutPrimaryKey, match="ADD PRIMARY KEY"):
        PostgresCapture(SOURCE, project="shop", settings=settings).check()


def test_a_role_without_replication_is_refused(settings: CaptureSettings) -> None:
    _create_orders(settings.dsn, 1)
    _execute(settings.dsn, "CREATE ROLE reader LOGIN", "GRANT SELECT ON orders TO reader")
    try:
        dsn = settings.dsn.replace("postgres@", "reader@")
        with pytest.raises(ReplicationPrivilegeMissing, match="ALTER ROLE reader REPLICATION"):
            PostgresCapture(
                SOURCE, project="shop", settings=settings.model_copy(update={"dsn": dsn})
            ).check()
    finally:
        _execute(settings.dsn, "DROP OWNED BY reader", "DROP ROLE reader")


def test_a_slot_parity_did_not_create_is_refused(settings: CaptureSettings) -> None:
    _create_orders(settings.dsn, 1)
    capture = PostgresCapture(SOURCE, project="shop", settings=settings)
    _execute(
        settings.dsn,
        f"SELECT pg_create_logical_replication_slot('{capture.slot}', 'test_decoding')",
    )
    with pytest.raises(SlotOwnedElsewhere, match="pg_drop_replication_slot"):
        capture.check()


def test_wal_level_other_than_logical_is_refused(redis_url: str) -> None:
    server = start_postgres(wal_level="replica")
    try:
        _execute(server.dsn(), "CREATE TABLE orders (order_id bigint PRIMARY KEY)")
        settings = CaptureSettings(dsn=server.dsn(), url=redis_url, stream="unused")
        with pytest.raises(LogicalReplicationOff, match="wal_level = logical"):
            PostgresCapture(SOURCE, project="shop", settings=settings).check()
    finally:
        stop_postgres(server)
