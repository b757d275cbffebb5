"""Every online store test runs against SQLite (a temp file), the real Redis server and a
real Redis Cluster (3 masters, 3 replicas) started for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parity.online import OnlineStore, open_online_store
from parity.online.redis import RedisOnlineConfig
from parity.online.redis_cluster import RedisClusterOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig

from ...conftest import IN_CI
from ...redis_cluster_nodes import ClusterStartFailed, LocalRedisCluster, binaries_missing

OnlineConfig = SqliteOnlineConfig | RedisOnlineConfig | RedisClusterOnlineConfig


def start_cluster(directory: Path) -> LocalRedisCluster:
    """A fresh cluster in ``directory``; skips (fails under CI=true) when it cannot start."""
    reason = binaries_missing()
    if reason is None:
        try:
            return LocalRedisCluster.start(directory)
        except ClusterStartFailed as exc:
            reason = f"the Redis Cluster did not start: {exc}"
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A real 6-node Redis Cluster on free loopback ports, shared by the session."""
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


def _delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
    finally:
        client.close()


def _delete_cluster_prefix(startup_nodes: list[str], prefix: str) -> None:
    from redis.cluster import ClusterNode, RedisCluster

    nodes = [ClusterNode(n.rsplit(":", 1)[0], int(n.rsplit(":", 1)[1])) for n in startup_nodes]
    client = RedisCluster(startup_nodes=nodes)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "redis", "redis_cluster"])
def online_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineConfig]:
    if request.param == "sqlite":
        yield SqliteOnlineConfig(path=str(tmp_path / "online.db"))
        return
    prefix = request.getfixturevalue("unique_prefix")
    if request.param == "redis_cluster":
        cluster: LocalRedisCluster = request.getfixturevalue("redis_cluster")
        try:
            yield RedisClusterOnlineConfig(startup_nodes=cluster.startup_nodes, key_prefix=prefix)
        finally:
            _delete_cluster_prefix(cluster.startup_nodes, prefix)
        return
    url = request.getfixturevalue("redis_url")
    try:
        yield RedisOnlineConfig(url=url, key_prefix=prefix)
    finally:
        _delete_prefix(url, prefix)


@pytest.fixture
def store(online_config: OnlineConfig, tmp_path: Path) -> Iterator[OnlineStore]:
    with open_online_store(online_config, repo_root=tmp_path) as opened:
        yield opened
