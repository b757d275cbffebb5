"""Every sync test runs against each online backend (SQLite file, real Redis, a private
Redis Cluster)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ...redis_cluster_nodes import LocalRedisCluster
from ..online.conftest import start_cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A real 6-node Redis Cluster on free loopback ports for the sync tests' session."""
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster-sync"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "redis", "redis_cluster"])
def online_yaml(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "online_store: {type: sqlite, path: data/online.db}\n"
    if request.param == "redis_cluster":
        cluster = request.getfixturevalue("redis_cluster")
        prefix = request.getfixturevalue("unique_prefix")
        nodes = ", ".join(f"'{n}'" for n in cluster.startup_nodes)
        return (
            f"online_store: {{type: redis_cluster, startup_nodes: [{nodes}], "
            f"key_prefix: {prefix}}}\n"
        )
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
