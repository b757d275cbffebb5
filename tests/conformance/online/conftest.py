"""Every online store test runs against SQLite (a temp file) and the real Redis server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parity.online import OnlineStore, open_online_store
from parity.online.redis import RedisOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig

OnlineConfig = SqliteOnlineConfig | RedisOnlineConfig


def _delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def online_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineConfig]:
    if request.param == "sqlite":
        yield SqliteOnlineConfig(path=str(tmp_path / "online.db"))
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("unique_prefix")
    try:
        yield RedisOnlineConfig(url=url, key_prefix=prefix)
    finally:
        _delete_prefix(url, prefix)


@pytest.fixture
def store(online_config: OnlineConfig, tmp_path: Path) -> Iterator[OnlineStore]:
    with open_online_store(online_config, repo_root=tmp_path) as opened:
        yield opened
