"""MariaDB change data capture against a private server with a row-format binlog."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import parity as p
from parity.cdc import (
    BinlogNotRowFormat,
    CaptureSettings,
    ReplicationPrivilegeMissing,
    TableWithoutPrimaryKey,
)
from parity.cdc.mysql import MySQLCapture

from .conftest import start_mariadb, stop_mariadb
from .test_postgres_capture import _events, _replay

pytestmark = [pytest.mark.redis]

SOURCE = p.MySQLCDCSource(
    "orders_cdc", table="orders", batch_source=p.DeltaSource("data/orders", timestamp_field="ts")
)


def _execute(dsn: str, *statements: str) -> None:
    import pymysql

    from parity.cdc.mysql import _connection_settings

    s = _connection_settings(dsn)
    conn = pymysql.connect(
        host=s["host"],
        port=s["port"],
        user=s["user"],
        password=s["password"],
        database=dsn.rsplit("/", 1)[1] or None,
        autocommit=True,
    )
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


def _create_orders(dsn: str, rows: int) -> None:
    _execute(
        dsn,
        "CREATE TABLE orders (order_id BIGINT PRIMARY KEY, amount DOUBLE, version INT NOT NULL, "
        "note VARCHAR(40))",
        f"INSERT INTO orders SELECT seq, seq * 0.5, 0, CONCAT('n', seq) FROM seq_1_to_{rows}",
    )


def _writer(dsn: str, stop: threading.Event, rows: int, seed: int) -> None:
    import pymysql

    from parity.cdc.mysql import _connection_settings

    s = _connection_settings(dsn)
    conn = pymysql.connect(
        host=s["host"],
        port=s["port"],
        user=s["user"],
        password=s["password"],
        database=dsn.rsplit("/", 1)[1],
        autocommit=True,
    )
    rng = random.Random(seed)
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
                cur.execute("INSERT INTO orders VALUES (%s, 1.0, 0, NULL)", (next_id,))
                next_id += 1
    conn.close()


def _table(dsn: str) -> dict[int, tuple[Any, ...]]:
    import pymysql

    from parity.cdc.mysql import _connection_settings

    s = _connection_settings(dsn)
    conn = pymysql.connect(
        host=s["host"],
        port=s["port"],
        user=s["user"],
        password=s["password"],
        database=dsn.rsplit("/", 1)[1],
    )
    with conn.cursor() as cur:
        cur.execute("SELECT order_id, amount, version FROM orders")
        rows = {r[0]: r for r in cur.fetchall()}
    conn.close()
    return rows


def _master_position(dsn: str) -> tuple[str, int]:
    import pymysql

    from parity.cdc.mysql import _connection_settings

    s = _connection_settings(dsn)
    conn = pymysql.connect(host=s["host"], port=s["port"], user=s["user"])
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        file, pos = cur.fetchone()[:2]
    conn.close()
    return file, int(pos)


def _wait_caught_up(capture: MySQLCapture, dsn: str, timeout: float = 120.0) -> None:
    file, pos = _master_position(dsn)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        confirmed = capture.metrics.confirmed_position
        if confirmed:
            c_file, c_pos, _ = confirmed.rsplit(":", 2)
            if (c_file, int(c_pos)) >= (file, pos):
                return
        time.sleep(0.05)
    raise AssertionError(f"the capture did not catch up to {file}:{pos}")


@pytest.fixture
def settings(
    mariadb_database: str, redis_url: str, unique_prefix: str
) -> Iterator[CaptureSettings]:
    yield CaptureSettings(
        dsn=mariadb_database,
        url=redis_url,
        coordination_url=redis_url,
        stream=unique_prefix,
        slot=unique_prefix,
    )
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [
        *client.scan_iter(match=f"{unique_prefix}*"),
        *client.scan_iter(match=f"parity:cdc:{unique_prefix}"),
    ]
    if keys:
        client.delete(*keys)
    client.close()


def _assert_stream_equals_table(events: list[dict[str, Any]], dsn: str) -> None:
    state = _replay(events)
    table = _table(dsn)
    assert set(state) == set(table)
    for key, row in table.items():
        assert (state[key]["amount"], state[key]["version"]) == (row[1], row[2])


def test_snapshot_hands_off_to_the_binlog_with_no_gap_and_no_duplicate(
    settings: CaptureSettings, redis_url: str
) -> None:
    _create_orders(settings.dsn, 2000)
    stop_writer, stop_capture = threading.Event(), threading.Event()
    writer = threading.Thread(target=_writer, args=(settings.dsn, stop_writer, 2000, 3))
    writer.start()
    capture = MySQLCapture(SOURCE, project="shop", settings=settings)
    runner = threading.Thread(target=capture.run, kwargs={"stop": stop_capture})
    try:
        time.sleep(0.2)
        runner.start()
        assert capture.streaming.wait(30)
        time.sleep(1.0)
    finally:
        stop_writer.set()
        writer.join()
    _wait_caught_up(capture, settings.dsn)
    stop_capture.set()
    runner.join(timeout=30)
    events = _events(redis_url, settings.stream, settings.partitions)
    assert {e["__op"] for e in events} == {"r", "c", "u", "d"}
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    _assert_stream_equals_table(events, settings.dsn)
    # Commit order survives second-resolution binlog times: per key, times increase.
    last: dict[int, str] = {}
    for event in events:
        assert event["ts"] > last.get(event["order_id"], ""), event
        last[event["order_id"]] = event["ts"]


def test_restart_resumes_from_the_checkpointed_binlog_position(
    settings: CaptureSettings, redis_url: str
) -> None:
    _create_orders(settings.dsn, 30)
    for expected_snapshot, statements in (
        (30, ["UPDATE orders SET version = version + 1 WHERE order_id <= 10"]),
        (
            0,
            [
                "UPDATE orders SET version = version + 1 WHERE order_id <= 5",
                "DELETE FROM orders WHERE order_id = 30",
            ],
        ),
    ):
        capture = MySQLCapture(SOURCE, project="shop", settings=settings)
        stop = threading.Event()
        runner = threading.Thread(target=capture.run, kwargs={"stop": stop})
        runner.start()
        assert capture.streaming.wait(30)
        _execute(settings.dsn, *statements)
        _wait_caught_up(capture, settings.dsn)
        stop.set()
        _execute(settings.dsn, "FLUSH LOGS")  # wakes the blocking binlog read
        runner.join(timeout=30)
        assert capture.metrics.snapshot_rows == expected_snapshot
    events = _events(redis_url, settings.stream, settings.partitions)
    assert len(events) == 30 + 10 + 6
    _assert_stream_equals_table(events, settings.dsn)


def test_a_table_without_a_primary_key_is_refused(settings: CaptureSettings) -> None:
    _execute(settings.dsn, "CREATE TABLE orders (order_id BIGINT, amount DOUBLE)")
    with pytest.raises(TableWithoutPrimaryKey, match="ADD PRIMARY KEY"):
        MySQLCapture(SOURCE, project="shop", settings=settings).check()


def test_a_user_without_replication_grants_is_refused(settings: CaptureSettings) -> None:
    _create_orders(settings.dsn, 1)
    database = settings.dsn.rsplit("/", 1)[1]
    _execute(
        settings.dsn,
        "CREATE USER 'reader'@'127.0.0.1'",
        f"GRANT SELECT ON `{database}`.* TO 'reader'@'127.0.0.1'",
    )
    try:
        dsn = settings.dsn.replace("root@", "reader@")
        with pytest.raises(ReplicationPrivilegeMissing, match="GRANT REPLICATION SLAVE"):
            MySQLCapture(
                SOURCE, project="shop", settings=settings.model_copy(update={"dsn": dsn})
            ).check()
    finally:
        _execute(settings.dsn, "DROP USER 'reader'@'127.0.0.1'")


def test_a_binlog_not_in_row_format_is_refused(redis_url: str) -> None:
    server = start_mariadb(binlog_format="STATEMENT")
    try:
        _execute(server.dsn(), "CREATE DATABASE shop")
        _execute(server.dsn(database="shop"), "CREATE TABLE orders (order_id BIGINT PRIMARY KEY)")
        settings = CaptureSettings(dsn=server.dsn(database="shop"), url=redis_url, stream="x")
        with pytest.raises(BinlogNotRowFormat, match="binlog_format is 'STATEMENT'"):
            MySQLCapture(SOURCE, project="shop", settings=settings).check()
    finally:
        stop_mariadb(server)
