"""Redis-specific behaviour of the online store, against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from parity.online import OnlineStore, ReadRequest, ViewTable, open_online_store
from parity.online.redis import RedisOnlineConfig

TABLE = ViewTable.build("p", "v", 1, join_keys={"id": "int64"}, features={"x": "int64"})
ROWS = pa.table(
    {"id": [1], "x": [42], "event_timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)])}
)


@pytest.fixture
def redis_store(redis_url: str, unique_prefix: str) -> Iterator[OnlineStore]:
    with open_online_store(
        RedisOnlineConfig(url=redis_url, key_prefix=unique_prefix), repo_root="."
    ) as store:
        try:
            yield store
        finally:
            store.delete_table(TABLE)


def _kill_store_connections(redis_url: str, prefix: str) -> int:
    import redis

    admin = redis.Redis.from_url(redis_url)
    try:
        name = f"parity-online-{prefix}"
        ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        admin.close()


def test_read_survives_the_server_dropping_pooled_connections(
    redis_store: OnlineStore, redis_url: str, unique_prefix: str
) -> None:
    redis_store.write(TABLE, ROWS)
    assert redis_store.read([ReadRequest(TABLE, keys=[(1,)])])[0][0] is not None
    assert _kill_store_connections(redis_url, unique_prefix) >= 1
    row = redis_store.read([ReadRequest(TABLE, keys=[(1,)])])[0][0]
    assert row is not None and row.values == (42,)
    assert _kill_store_connections(redis_url, unique_prefix) >= 1
    assert redis_store.write(TABLE, ROWS).skipped == 1


def test_keys_are_readable_and_namespaced_by_prefix_and_version(
    redis_store: OnlineStore, redis_url: str, unique_prefix: str
) -> None:
    import redis

    redis_store.write(TABLE, ROWS)
    admin = redis.Redis.from_url(redis_url)
    try:
        keys = sorted(admin.scan_iter(match=f"{unique_prefix}:*", count=10_000))
    finally:
        admin.close()
    assert keys == [f"{unique_prefix}:p:v:v1:1".encode()]


@pytest.mark.parametrize("batch", [3, 2000])
def test_writes_split_into_script_chunks_keep_the_rule(
    redis_url: str, unique_prefix: str, batch: int
) -> None:
    config = RedisOnlineConfig(url=redis_url, key_prefix=unique_prefix, write_batch_size=batch)
    n = 4500
    with open_online_store(config, repo_root=".") as store:
        try:
            t0 = datetime(2026, 1, 1, tzinfo=UTC)
            newer = pa.table({"id": range(n), "x": range(n), "event_timestamp": pa.array([t0] * n)})
            assert store.write(TABLE, newer).written == n
            older = newer.set_column(2, "event_timestamp", pa.array([t0.replace(year=2025)] * n))
            older = older.set_column(1, "x", pa.array([-1] * n))
            assert store.write(TABLE, older).skipped == n
            got = store.read([ReadRequest(TABLE, keys=[(k,) for k in range(n)])])[0]
            assert [r.values[0] for r in got if r is not None] == list(range(n))
        finally:
            store.delete_table(TABLE)
