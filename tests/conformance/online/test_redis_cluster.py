"""Redis Cluster behaviour beyond the shared contract, against real clusters on loopback:
slot layout and round trips, failover under reads, nodes down, uncovered slots and bad
``startup_nodes``. Tests that break a cluster start a private one."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from parity.config import load_config
from parity.errors import (
    PUBLIC_ERRORS,
    ConfigError,
    OnlineStorePartlyUnavailable,
    OnlineStoreUnavailable,
)
from parity.online import OnlineStore, ReadRequest, ViewTable, open_online_store
from parity.online.redis_cluster import RedisClusterOnlineConfig
from parity.serve.http_errors import status_for

from ...conftest import IN_CI
from ...redis_cluster_nodes import ClusterStartFailed, LocalRedisCluster
from .conftest import start_cluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VIEWS = [
    ViewTable.build("p", f"v{i}", 1, join_keys={"id": "int64"}, features={"x": "int64"})
    for i in range(3)
]
N = 300


def rows(keys: range, *, scale: int, at: datetime = T0) -> pa.Table:
    return pa.table(
        {
            "id": list(keys),
            "x": [k * scale for k in keys],
            "event_timestamp": pa.array([at] * len(keys), pa.timestamp("us", tz="UTC")),
        }
    )


def values(store: OnlineStore, view: ViewTable, keys: range) -> list[int | None]:
    got = store.read([ReadRequest(view, keys=[(k,) for k in keys])])[0]
    return [None if r is None else r.values[0] for r in got]


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[LocalRedisCluster]:
    """A cluster of this test's own, free to break."""
    cluster = start_cluster(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_store(redis_cluster: LocalRedisCluster, unique_prefix: str) -> Iterator[OnlineStore]:
    config = RedisClusterOnlineConfig(
        startup_nodes=redis_cluster.startup_nodes, key_prefix=unique_prefix
    )
    with open_online_store(config, repo_root=".") as store:
        try:
            yield store
        finally:
            for view in VIEWS:
                store.delete_table(view)


def _reset_command_stats(cluster: LocalRedisCluster) -> list[int]:
    masters = cluster.masters()
    for port in masters:
        cluster.cli(port, "CONFIG", "RESETSTAT")
    return masters


def _command_calls(cluster: LocalRedisCluster, masters: list[int]) -> dict[str, int]:
    """Calls per command summed over ``masters`` since the last CONFIG RESETSTAT."""
    calls: dict[str, int] = {}
    for port in masters:
        for line in cluster.cli(port, "INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, stats = line[len("cmdstat_") :].split(":", 1)
                count = int(stats.split(",")[0].split("=")[1])
                if not name.startswith(("config", "info")):
                    calls[name] = calls.get(name, 0) + count
    return calls


def test_one_entity_of_several_views_is_one_mget_on_one_node(
    cluster_store: OnlineStore, redis_cluster: LocalRedisCluster
) -> None:
    for view in VIEWS:
        cluster_store.write(view, rows(range(50), scale=1))
    request = [ReadRequest(view, keys=[(7,)]) for view in VIEWS]
    cluster_store.read(request)  # warm: connections open, slot map loaded
    masters = _reset_command_stats(redis_cluster)
    got = cluster_store.read(request)
    assert [r[0].values if r[0] else None for r in got] == [(7,)] * 3
    assert _command_calls(redis_cluster, masters) == {"mget": 1}


def test_keys_are_tagged_by_entity_so_its_views_share_a_slot(
    cluster_store: OnlineStore, redis_cluster: LocalRedisCluster, unique_prefix: str
) -> None:
    for view in VIEWS:
        cluster_store.write(view, rows(range(3), scale=1))
    port = redis_cluster.ports[0]
    for entity in range(3):
        keys = [f"{unique_prefix}:p:{view.view}:v1:{{{entity}}}" for view in VIEWS]
        slots = {redis_cluster.cli(port, "CLUSTER", "KEYSLOT", key).strip() for key in keys}
        assert len(slots) == 1, keys


def test_many_entities_read_across_every_master_in_request_order(
    cluster_store: OnlineStore, redis_cluster: LocalRedisCluster
) -> None:
    cluster_store.write(VIEWS[0], rows(range(N), scale=3))
    cluster_store.read([ReadRequest(VIEWS[0], keys=[(0,)])])
    masters = _reset_command_stats(redis_cluster)
    wanted = range(N - 1, -20, -1)  # reversed, with missing keys at the end
    assert values(cluster_store, VIEWS[0], wanted) == [k * 3 if k >= 0 else None for k in wanted]
    calls = _command_calls(redis_cluster, masters)
    assert set(calls) == {"mget"}  # never redirected, nothing but per-slot MGETs


def test_killed_master_gives_bounded_errors_then_correct_values_from_its_replica(
    private_cluster: LocalRedisCluster,
) -> None:
    config = RedisClusterOnlineConfig(
        startup_nodes=private_cluster.startup_nodes, timeout_seconds=2.0
    )
    with open_online_store(config, repo_root=".") as store:
        assert store.write(VIEWS[0], rows(range(N), scale=10)).written == N
        assert values(store, VIEWS[0], range(N)) == [k * 10 for k in range(N)]
        victim = private_cluster.masters()[0]
        private_cluster.kill(victim)
        errors, successes, start = 0, 0, time.monotonic()
        for _ in range(2000):  # bounded in count and (below) in time
            assert time.monotonic() - start < 60, f"no recovery after {errors} errors"
            began = time.monotonic()
            try:
                got = values(store, VIEWS[0], range(N))
            except OnlineStorePartlyUnavailable as exc:
                assert "online_store.startup_nodes" in str(exc)
                errors += 1
                successes = 0
                time.sleep(0.05)
            else:
                # Never a wrong or silently missing value, during or after the failover.
                assert got == [k * 10 for k in range(N)]
                successes += 1
                if successes >= 20 and victim not in private_cluster.masters():
                    break
            assert time.monotonic() - began < 10, "one read hung past the bound"
        assert successes >= 20 and errors <= 200
        # Writes reach the promoted replica (the script is loaded there if missing).
        later = datetime(2026, 2, 1, tzinfo=UTC)
        assert store.write(VIEWS[0], rows(range(N), scale=11, at=later)).written == N
        assert values(store, VIEWS[0], range(N)) == [k * 11 for k in range(N)]


def test_master_down_without_replica_is_one_clear_error_naming_the_setting(
    private_cluster: LocalRedisCluster,
) -> None:
    config = RedisClusterOnlineConfig(
        startup_nodes=private_cluster.startup_nodes, timeout_seconds=2.0
    )
    with open_online_store(config, repo_root=".") as store:
        store.write(VIEWS[0], rows(range(N), scale=1))
        master = private_cluster.masters()[0]
        replica = private_cluster.replica_of(master)
        private_cluster.kill(replica)
        private_cluster.kill(master)
        for attempt in range(2):  # right after the crash, then once the cluster says fail
            began = time.monotonic()
            with pytest.raises(OnlineStorePartlyUnavailable) as info:
                values(store, VIEWS[0], range(N))
            assert time.monotonic() - began < 15
            message = str(info.value)
            assert "online_store.startup_nodes" in message
            assert "redis-cli --cluster check" in message
            assert status_for(info.value) == 503  # the server answers it as unavailable
            assert PUBLIC_ERRORS[type(info.value).__name__] is OnlineStorePartlyUnavailable
            with pytest.raises(OnlineStorePartlyUnavailable):
                store.write(VIEWS[0], rows(range(N), scale=2))
            if attempt == 0:
                time.sleep(3 * 2.0)  # past cluster-node-timeout: CLUSTERDOWN everywhere


def test_uncovered_slots_are_one_clear_error_naming_the_setting_and_the_fix(
    tmp_path: Path,
) -> None:
    try:
        cluster = LocalRedisCluster.start_with_uncovered_slots(
            tmp_path / "partial", uncovered=range(16000, 16384)
        )
    except ClusterStartFailed as exc:
        if IN_CI:
            pytest.fail(f"{exc}; CI=true, so this is a failure, not a skip.", pytrace=False)
        pytest.skip(str(exc))
    try:
        config = RedisClusterOnlineConfig(startup_nodes=cluster.startup_nodes[:1])
        with (
            open_online_store(config, repo_root=".") as store,
            pytest.raises(OnlineStorePartlyUnavailable) as info,
        ):
            values(store, VIEWS[0], range(10))
        message = str(info.value)
        assert "slots" in message and "no master" in message
        assert "redis-cli --cluster fix" in message and "online_store.startup_nodes" in message
    finally:
        cluster.stop()


def test_unreachable_startup_nodes_fail_fast_naming_the_setting() -> None:
    config = RedisClusterOnlineConfig(startup_nodes=["127.0.0.1:1", "127.0.0.1:2"])
    with open_online_store(config, repo_root=".") as store:
        began = time.monotonic()
        with pytest.raises(OnlineStoreUnavailable) as info:
            values(store, VIEWS[0], range(3))
        assert time.monotonic() - began < 5
    message = str(info.value)
    assert "127.0.0.1:1, 127.0.0.1:2" in message
    assert "fix online_store.startup_nodes" in message


def test_wrong_credentials_are_a_config_error_naming_the_settings(
    redis_cluster: LocalRedisCluster,
) -> None:
    config = RedisClusterOnlineConfig(
        startup_nodes=redis_cluster.startup_nodes, username="nobody", password="hunter2"
    )
    with (
        open_online_store(config, repo_root=".") as store,
        pytest.raises(ConfigError, match="refused the credentials") as info,
    ):
        values(store, VIEWS[0], range(3))
    assert "online_store.username" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_plain_redis_server_as_startup_node_is_a_config_error(redis_url: str) -> None:
    config = RedisClusterOnlineConfig(startup_nodes=["127.0.0.1:6379"])
    with (
        open_online_store(config, repo_root=".") as store,
        pytest.raises(ConfigError, match="without cluster mode") as info,
    ):
        values(store, VIEWS[0], range(3))
    assert "online_store.startup_nodes" in str(info.value)
    assert "type: redis" in str(info.value)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ("[]", "lists no node"),
        ("[redis-1]", "startup node 'redis-1' is not HOST:PORT"),
        ("[127.0.0.1:99999]", "is not HOST:PORT"),
    ],
)
def test_malformed_startup_nodes_are_refused_with_the_setting_named(
    tmp_path: Path, nodes: str, message: str
) -> None:
    (tmp_path / "parity.yaml").write_text(
        f"project: p\nonline_store: {{type: redis_cluster, startup_nodes: {nodes}}}\n"
    )
    with pytest.raises(ConfigError, match=r"set online_store\.startup_nodes") as info:
        load_config(tmp_path, environ={})
    assert message in str(info.value)


def test_startup_nodes_and_type_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "parity.yaml").write_text("project: p\n")
    environ = {
        "PARITY__ONLINE_STORE__TYPE": "redis_cluster",
        "PARITY__ONLINE_STORE__STARTUP_NODES": "[10.0.0.1:6379, 10.0.0.2:6379]",
    }
    config = load_config(tmp_path, environ=environ).online_store
    assert isinstance(config, RedisClusterOnlineConfig)
    assert config.startup_nodes == ("10.0.0.1:6379", "10.0.0.2:6379")


def test_misspelled_backend_suggests_redis_cluster(tmp_path: Path) -> None:
    (tmp_path / "parity.yaml").write_text("project: p\nonline_store: {type: redis-cluster}\n")
    with pytest.raises(ConfigError, match="Did you mean 'redis_cluster'"):
        load_config(tmp_path, environ={})


def test_importing_the_cluster_backend_never_imports_redis() -> None:
    code = "import sys, parity, parity.online.redis_cluster; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_entity_keys_with_braces_or_empty_round_trip(cluster_store: OnlineStore) -> None:
    view = ViewTable.build("p", "braces", 1, join_keys={"k": "string"}, features={"x": "int64"})
    keys = ["", "}", "}a", "{", "a}b", "{x}", "plain", "ü{}"] + [f"n{i}" for i in range(40)]
    batch = pa.table(
        {
            "k": keys,
            "x": list(range(len(keys))),
            "event_timestamp": pa.array([T0] * len(keys), pa.timestamp("us", tz="UTC")),
        }
    )
    assert cluster_store.write(view, batch).written == len(keys)
    got = cluster_store.read([ReadRequest(view, keys=[(k,) for k in reversed(keys)])])[0]
    assert [r.values[0] if r else None for r in got] == list(reversed(range(len(keys))))
    assert cluster_store.write(view, batch).skipped == len(keys)
    scanned = pa.concat_tables(cluster_store.scan(view)).column("k").to_pylist()
    assert sorted(scanned) == sorted(keys)
    assert cluster_store.delete_table(view) == len(keys)


def test_writes_load_the_script_on_masters_that_lost_it(
    cluster_store: OnlineStore, redis_cluster: LocalRedisCluster
) -> None:
    assert cluster_store.write(VIEWS[0], rows(range(N), scale=1)).written == N
    for port in redis_cluster.masters():  # as after a restart or a failover
        redis_cluster.cli(port, "SCRIPT", "FLUSH")
    later = datetime(2026, 2, 1, tzinfo=UTC)
    assert cluster_store.write(VIEWS[0], rows(range(N), scale=2, at=later)).written == N
    assert values(cluster_store, VIEWS[0], range(N)) == [k * 2 for k in range(N)]


def _node_id_and_first_slot(cluster: LocalRedisCluster, port: int) -> tuple[str, int]:
    for line in cluster.cli(port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        if len(fields) > 8 and "myself" in fields[2]:
            return fields[0], int(fields[8].split("-")[0])
    raise AssertionError(f"node {port} serves no slot")


def test_a_slot_moved_by_resharding_is_followed_for_reads_and_writes(
    private_cluster: LocalRedisCluster,
) -> None:
    from binascii import crc_hqx

    source, target = private_cluster.masters()[:2]
    source_id, slot = _node_id_and_first_slot(private_cluster, source)
    target_id, _ = _node_id_and_first_slot(private_cluster, target)
    entity = next(i for i in range(10**6) if crc_hqx(str(i).encode(), 0) % 16384 == slot)
    keys = range(entity, entity + 1)
    config = RedisClusterOnlineConfig(startup_nodes=private_cluster.startup_nodes)
    with open_online_store(config, repo_root=".") as store:
        assert store.write(VIEWS[0], rows(keys, scale=1)).written == 1
        assert values(store, VIEWS[0], keys) == [entity]  # the store's slot map is now stale
        reshard = ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{source}", "--cluster-yes"]
        one_slot = ["--cluster-from", source_id, "--cluster-to", target_id, "--cluster-slots", "1"]
        moved = subprocess.run(
            [*reshard, *one_slot],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert _node_id_and_first_slot(private_cluster, source)[1] != slot
        private_cluster.wait_ok(timeout=30)
        assert values(store, VIEWS[0], keys) == [entity]  # MOVED, followed by redis-py
        later = datetime(2026, 2, 1, tzinfo=UTC)
        assert store.write(VIEWS[0], rows(keys, scale=3, at=later)).written == 1
        assert values(store, VIEWS[0], keys) == [entity * 3]
