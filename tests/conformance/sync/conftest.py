"""Every sync test runs against each online backend (SQLite file, real Redis)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "redis"])
def online_yaml(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "online_store: {type: sqlite, path: data/online.db}\n"
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("unique_prefix")
    request.addfinalizer(lambda: _drop_prefix(url, prefix))
    return f"online_store: {{type: redis, url: '{url}', key_prefix: {prefix}}}\n"


def _drop_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
