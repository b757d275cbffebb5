"""Redis Cluster online store: read latency and write throughput against bare redis-py.

Starts its own 6-node cluster (3 masters, 3 replicas) on free loopback ports with
``tests/redis_cluster_nodes.py`` (or uses ``--startup-nodes``), writes 3 views x 5
features (float32, float64, int64, float64, string) over N entities (default 100,000),
then reads ``--calls`` times after a warm-up, interleaved call by call with the baselines
so that machine noise hits them alike:

- ``read 1x15``: one entity of the three views (one ``OnlineStore.read``, decoded),
  against a bare redis-py ``GET`` of one stored value on the node that holds it.
- ``read 100x15``: 100 entities of the three views (300 values, decoded), against bare
  per-node ``MGET`` s of the same 300 keys sent the same way: one packet of per-slot
  ``MGET`` s per master on a pooled redis-py connection, all packets written before any
  reply is read (keys and slots precomputed, nothing decoded). Redis refuses an ``MGET``
  across slots even on one node, so per slot is the least a bare client can send.
- reference points: redis-py's own ``RedisCluster.mget_nonatomic`` and a ``ClusterPipeline``
  of 300 ``GET`` s.

Writes: each view written once in full (encode included), then again (all skipped as not
newer); entity rows per second across the 3 masters.

Run:
    python benchmarks/redis_cluster.py
    python benchmarks/redis_cluster.py --entities 20000 --calls 500
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from online_store import bench_writes, paired, view_rows, views  # noqa: E402

from parity.online import ReadRequest, ViewTable, open_online_store  # noqa: E402
from parity.online.redis_cluster import RedisClusterOnlineConfig  # noqa: E402
from parity.online.redis_cluster_packets import key_slot  # noqa: E402
from redis_cluster_nodes import LocalRedisCluster  # noqa: E402


def our_reads(store: Any, tables: list[ViewTable], entities: int) -> dict[str, Any]:
    rng = random.Random(7)

    def one() -> None:
        key = [(rng.randrange(entities),)]
        out = store.read([ReadRequest(t, key) for t in tables])
        assert out[2][0] is not None

    def hundred() -> None:
        keys = [(rng.randrange(entities),) for _ in range(100)]
        out = store.read([ReadRequest(t, keys) for t in tables])
        assert out[2][99] is not None

    return {"cluster read 1x15": one, "cluster read 100x15": hundred}


def bare_reads(cluster: Any, namespaces: list[bytes], entities: int) -> dict[str, Any]:
    """Bare redis-py calls on the same keys: no key encoding, no decoding."""
    import redis

    rng = random.Random(8)
    primaries = {n.name: n for n in cluster.get_primaries()}
    clients = {name: redis.Redis(host=n.host, port=n.port) for name, n in primaries.items()}

    def key(ns: bytes, i: int) -> bytes:
        return ns + str(i).encode() + b"}"

    def node_of(k: bytes) -> str:
        name: str = cluster.nodes_manager.get_node_from_slot(key_slot(k)).name
        return name

    # 1x15's baseline: a plain GET of one stored value on its node, as a user would.
    one_keys = [key(namespaces[0], rng.randrange(entities)) for _ in range(4096)]
    one_plan = [(clients[node_of(k)], k) for k in one_keys]
    counter = iter(range(10**9))

    def get() -> None:
        client, k = one_plan[next(counter) % len(one_plan)]
        assert client.get(k)

    def plan_100() -> list[tuple[Any, list[list[bytes]]]]:
        ids = [rng.randrange(entities) for _ in range(100)]
        per_node: dict[str, dict[int, list[bytes]]] = {}
        for ns in namespaces:
            for i in ids:
                k = key(ns, i)
                slot = key_slot(k)
                per_node.setdefault(node_of(k), {}).setdefault(slot, []).append(k)
        return [
            (clients[name].connection_pool, list(slots.values()))
            for name, slots in per_node.items()
        ]

    plans = [plan_100() for _ in range(512)]
    counter100 = iter(range(10**9))

    def mgets() -> None:
        plan = plans[next(counter100) % len(plans)]
        sent = []
        for pool, groups in plan:
            conn = pool.get_connection()
            conn.send_packed_command(conn.pack_commands([("MGET", *g) for g in groups]))
            sent.append((pool, conn, len(groups)))
        for pool, conn, count in sent:
            for _ in range(count):
                conn.read_response()
            pool.release(conn)

    flat = [[k for _, groups in plan for g in groups for k in g] for plan in plans[:64]]
    counter_ref = iter(range(10**9))

    def nonatomic() -> None:
        cluster.mget_nonatomic(flat[next(counter_ref) % len(flat)])

    def cluster_pipeline() -> None:
        pipe = cluster.pipeline(transaction=False)
        for k in flat[next(counter_ref) % len(flat)]:
            pipe.get(k)
        pipe.execute()

    return {
        "bare GET 1 key on its node": get,
        "bare per-node MGETs of 300 keys": mgets,
        "redis-py mget_nonatomic 300 keys": nonatomic,
        "redis-py ClusterPipeline 300 GETs": cluster_pipeline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--reference-calls", type=int, default=300)
    parser.add_argument("--startup-nodes", default="", help="use a running cluster")
    args = parser.parse_args()
    from redis.cluster import ClusterNode, RedisCluster

    data = [(view, view_rows(view, args.entities, seed=i)) for i, view in enumerate(views())]
    tables = [view for view, _ in data]
    local = None
    if args.startup_nodes:
        nodes = args.startup_nodes.split(",")
    else:
        local = LocalRedisCluster.start(tempfile.mkdtemp(prefix="parity-bench-cluster-"))
        nodes = local.startup_nodes
    prefix = f"parity_bench_{time.time_ns()}"
    config = RedisClusterOnlineConfig(startup_nodes=nodes, key_prefix=prefix)
    try:
        client = RedisCluster(
            startup_nodes=[
                ClusterNode(n.rsplit(":", 1)[0], int(n.rsplit(":", 1)[1])) for n in nodes
            ]
        )
        with open_online_store(config, repo_root=".") as store:
            writes = bench_writes(store, data, "cluster")
            namespaces = [f"{prefix}:{view.namespace}:{{".encode() for view in tables]
            bare = bare_reads(client, namespaces, args.entities)
            gc.collect()
            reads = paired(
                args.calls,
                args.warmup,
                **our_reads(store, tables, args.entities),
                **{k: v for k, v in bare.items() if k.startswith("bare")},
            )
            reads.update(
                paired(
                    args.reference_calls,
                    50,
                    **{k: v for k, v in bare.items() if k.startswith("redis-py")},
                )
            )
            for view in tables:
                store.delete_table(view)
        client.close()
    finally:
        if local is not None:
            local.stop()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load} (at the end), {args.entities} entities x 3 views x 5 features, "
        f"{args.calls} calls after {args.warmup} warm-up, interleaved"
    )
    print("| read | p50 ms | p99 ms |\n| --- | --- | --- |")
    for name, (p50, p99) in reads.items():
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")
    print("\n| write (encode + store), 3 masters | entity rows/s |\n| --- | --- |")
    for name, rate in writes.items():
        print(f"| {name} | {rate:,.0f} |")
    print()
    for ours, baseline, target in (
        ("cluster read 1x15", "bare GET 1 key on its node", 1.3),
        ("cluster read 100x15", "bare per-node MGETs of 300 keys", 1.3),
    ):
        (a50, a99), (b50, b99) = reads[ours], reads[baseline]
        verdict = "met" if a99 / b99 <= target else "MISSED"
        print(
            f"{ours} / {baseline}: p50 {a50 / b50:.2f}x, p99 {a99 / b99:.2f}x "
            f"(target p99 <= {target}x: {verdict})"
        )
    rate = writes["cluster write"]
    print(
        f"cluster write: {rate:,.0f} entity rows/s (target >= 150,000: "
        f"{'met' if rate >= 150_000 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
