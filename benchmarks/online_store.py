"""Online store backends: write throughput and read latency, against bare redis-py.

Three views x five features (float32, float64, int64, float64, string) over N entities
(default 100,000), each view written once in full, then read 1 entity x 15 features and
100 entities x 15 features (one ``read`` call over the three views) ``--calls`` times
after a warm-up. In the same run and on the same keys: a bare redis-py ``GET`` of one
stored value, a bare ``MGET`` and a pipelined ``GET`` of the 300 values a 100-entity read
fetches (no decoding), a bare pipelined ``SET`` of the encoded values, and a batched
WATCH/MULTI write, the alternative to the Lua script.

Run:
    python benchmarks/online_store.py                 # SQLite and Redis, 100k entities
    python benchmarks/online_store.py --backends sqlite --entities 10000
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from parity.online import OnlineStore, ReadRequest, ViewTable, open_online_store
from parity.online.redis import RedisOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig

FEATURES = {
    "f_f32": "float32",
    "f_f64": "float64",
    "f_i64": "int64",
    "f_avg": "float64",
    "f_str": "string",
}
START_US = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)


def views() -> list[ViewTable]:
    return [
        ViewTable.build(
            "bench",
            f"view_{i}",
            1,
            join_keys={"user_id": "int64"},
            features={f"{name}_{i}": t for name, t in FEATURES.items()},
        )
        for i in range(3)
    ]


def view_rows(view: ViewTable, entities: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = view.feature_names
    event = START_US + rng.integers(0, 31 * 86_400 * 1_000_000, entities)
    return pa.table(
        {
            "user_id": pa.array(np.arange(entities, dtype=np.int64)),
            names[0]: pa.array(rng.random(entities, dtype=np.float32)),
            names[1]: pa.array(rng.normal(100, 30, entities)),
            names[2]: pa.array(rng.integers(0, 1_000, entities)),
            names[3]: pa.array(rng.random(entities) * 1e4, mask=rng.random(entities) < 0.01),
            names[4]: pa.array(rng.choice(["DE", "FR", "US", "GB", "JP"], entities)),
            "event_timestamp": pa.array(event, pa.timestamp("us", tz="UTC")),
            "created_timestamp": pa.array(event + 1_000_000, pa.timestamp("us", tz="UTC")),
        }
    )


def _summary(samples: list[int]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    samples.sort()
    return statistics.median(samples) / 1e6, samples[int(len(samples) * 0.99) - 1] / 1e6


def paired(
    calls: int, warmup: int, **measured: Callable[[], Any]
) -> dict[str, tuple[float, float]]:
    """Latencies of several calls, interleaved so that machine noise hits them alike."""
    names = list(measured)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for i in range(warmup + calls):
        for name in names if i % 2 else reversed(names):
            start = time.perf_counter_ns()
            measured[name]()
            if i >= warmup:
                samples[name].append(time.perf_counter_ns() - start)
    return {name: _summary(samples[name]) for name in names}


def bench_writes(
    store: OnlineStore, data: list[tuple[ViewTable, pa.Table]], name: str
) -> dict[str, float]:
    total = sum(t.num_rows for _, t in data)
    start = time.perf_counter()
    for view, rows in data:
        result = store.write(view, rows)
        assert result.written == rows.num_rows, result
    first = total / (time.perf_counter() - start)
    start = time.perf_counter()
    for view, rows in data:
        assert store.write(view, rows).written == 0
    again = total / (time.perf_counter() - start)
    return {f"{name} write": first, f"{name} rewrite (all skipped as not newer)": again}


def read_calls(
    store: OnlineStore, tables: list[ViewTable], entities: int, name: str
) -> dict[str, Callable[[], Any]]:
    rng = random.Random(7)

    def one() -> None:
        key = [(rng.randrange(entities),)]
        out = store.read([ReadRequest(t, key) for t in tables])
        assert out[2][0] is not None

    def hundred() -> None:
        keys = [(rng.randrange(entities),) for _ in range(100)]
        out = store.read([ReadRequest(t, keys) for t in tables])
        assert out[2][99] is not None

    return {f"{name} read 1x15": one, f"{name} read 100x15": hundred}


def bare_redis_calls(client: Any, namespaces: list[bytes], entities: int) -> dict[str, Any]:
    rng = random.Random(8)

    def get() -> None:
        assert client.get(namespaces[0] + str(rng.randrange(entities)).encode())

    def mget() -> None:
        ids = [str(rng.randrange(entities)).encode() for _ in range(100)]
        client.mget([ns + i for ns in namespaces for i in ids])

    def pipelined() -> None:
        ids = [str(rng.randrange(entities)).encode() for _ in range(100)]
        pipe = client.pipeline(transaction=False)
        for ns in namespaces:
            for i in ids:
                pipe.get(ns + i)
        pipe.execute()

    return {
        "bare GET 1 key": get,
        "bare MGET 300 keys": mget,
        "bare pipeline 300 GETs": pipelined,
    }


HASH_ENTITIES = 10_000


def hash_layout_calls(
    client: Any, data: list[tuple[ViewTable, pa.Table]], prefix: str
) -> dict[str, Any]:
    """The rejected layout, one hash per entity (field -> text), read without decoding."""
    namespaces = [f"hash:{prefix}:{view.namespace}:".encode() for view, _ in data]
    for ns, (_, rows) in zip(namespaces, data, strict=True):
        pipe = client.pipeline(transaction=False)
        for row in rows.slice(0, HASH_ENTITIES).to_pylist():
            mapping = {k: str(v) for k, v in row.items() if k != "user_id" and v is not None}
            pipe.hset(ns + str(row["user_id"]).encode(), mapping=mapping)
        pipe.execute()
    rng = random.Random(9)

    def fetch(count: int) -> None:
        ids = [str(rng.randrange(HASH_ENTITIES)).encode() for _ in range(count)]
        pipe = client.pipeline(transaction=False)
        for ns in namespaces:
            for i in ids:
                pipe.hgetall(ns + i)
        pipe.execute()

    return {
        "hash layout: pipelined HGETALL 1x3": lambda: fetch(1),
        "hash layout: pipelined HGETALL 100x3": lambda: fetch(100),
    }


def bare_redis_writes(
    client: Any, encoded: list[tuple[list[bytes], list[bytes]]]
) -> dict[str, float]:
    """The same encoded bytes without the newer-wins check, and with WATCH/MULTI."""
    total = sum(len(k) for k, _ in encoded)
    start = time.perf_counter()
    for keys, values in encoded:
        for lo in range(0, len(keys), 10_000):
            pipe = client.pipeline(transaction=False)
            for k, v in zip(keys[lo : lo + 10_000], values[lo : lo + 10_000], strict=True):
                pipe.set(k, v)
            pipe.execute()
    plain = total / (time.perf_counter() - start)
    start = time.perf_counter()
    for keys, values in encoded:
        for lo in range(0, len(keys), 1000):
            chunk_k, chunk_v = keys[lo : lo + 1000], values[lo : lo + 1000]
            with client.pipeline(transaction=True) as pipe:
                pipe.watch(*chunk_k)
                old = pipe.mget(chunk_k)
                pipe.multi()
                for k, v, o in zip(chunk_k, chunk_v, old, strict=True):
                    if o is None or v > o:
                        pipe.set(k, v)
                pipe.execute()
    watched = total / (time.perf_counter() - start)
    for keys, _ in encoded:
        for lo in range(0, len(keys), 10_000):
            client.unlink(*keys[lo : lo + 10_000])
    return {
        "bare pipelined SET, no newer-wins check": plain,
        "WATCH/MULTI newer-wins, batches of 1000": watched,
    }


def bench_redis(
    url: str, data: list[tuple[ViewTable, pa.Table]], args: Any
) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    import redis

    from parity.online.codec import TableCodec

    prefix = f"parity_bench_{time.time_ns()}"
    tables = [view for view, _ in data]
    client = redis.Redis.from_url(url)
    with open_online_store(RedisOnlineConfig(url=url, key_prefix=prefix), repo_root=".") as store:
        writes = bench_writes(store, data, "redis")
        namespaces = [f"{prefix}:{view.namespace}:".encode() for view in tables]
        gc.collect()
        reads = paired(
            args.calls,
            args.warmup,
            **read_calls(store, tables, args.entities, "redis"),
            **bare_redis_calls(client, namespaces, args.entities),
            **hash_layout_calls(client, data, prefix),
        )
        for key in client.scan_iter(match=f"hash:{prefix}:*", count=1000):
            client.unlink(key)
        encoded = []
        for view, rows in data:
            batch = TableCodec(view).encode_batch(rows)
            ns = f"bare:{prefix}:{view.namespace}:".encode()
            encoded.append(([ns + k for k in batch.keys.to_pylist()], batch.values.to_pylist()))
        writes.update(bare_redis_writes(client, encoded))
        for view in tables:
            store.delete_table(view)
    client.close()
    return reads, writes


def bench_sqlite(
    data: list[tuple[ViewTable, pa.Table]], args: Any
) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    tables = [view for view, _ in data]
    with tempfile.TemporaryDirectory() as tmp:
        config = SqliteOnlineConfig(path=str(Path(tmp) / "online.db"))
        with open_online_store(config, repo_root=tmp) as store:
            writes = bench_writes(store, data, "sqlite")
            gc.collect()
            reads = paired(
                args.calls, args.warmup, **read_calls(store, tables, args.entities, "sqlite")
            )
    return reads, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    data = [(view, view_rows(view, args.entities, seed=i)) for i, view in enumerate(views())]
    reads: dict[str, tuple[float, float]] = {}
    writes: dict[str, float] = {}
    for backend in args.backends.split(","):
        backend_reads, backend_writes = (
            bench_sqlite(data, args)
            if backend == "sqlite"
            else bench_redis(args.redis_url, data, args)
        )
        reads.update(backend_reads)
        writes.update(backend_writes)
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.entities} entities x 3 views x 5 features, "
        f"{args.calls} calls after {args.warmup} warm-up, interleaved"
    )
    print("| read | p50 ms | p99 ms |\n| --- | --- | --- |")
    for key, (p50, p99) in reads.items():
        print(f"| {key} | {p50:.3f} | {p99:.3f} |")
    print("\n| write (encode + store) | entity rows/s |\n| --- | --- |")
    for key, rate in writes.items():
        print(f"| {key} | {rate:,.0f} |")
    for ours, bare in (
        ("redis read 1x15", "bare GET 1 key"),
        ("redis read 100x15", "bare MGET 300 keys"),
    ):
        if ours in reads:
            (a50, a99), (b50, b99) = reads[ours], reads[bare]
            print(f"\n{ours} / {bare}: p50 {a50 / b50:.2f}x, p99 {a99 / b99:.2f}x", end="")
    print()


if __name__ == "__main__":
    main()
