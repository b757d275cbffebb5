"""Materialization into Redis: Spark executors (one connection per partition) vs the local
path (DuckDB engine, rows read and published by the syncing process).

Usage::

    python benchmarks/sync_spark.py --rows 1000000 --entities 200000

Workload: one view of four features (two float64, an int64, a string), ``--rows`` rows
over ``--entities`` entities (about rows/entities rows per entity, random event and
created times within a day), written once as a Parquet file shared by both repositories.
Each engine syncs the whole day into its own key prefix of the Redis server at
127.0.0.1:6379 in its own subprocess; Spark runs on ``local[2]`` with 4 shuffle partitions
per core, so both use the same two cores. The clock covers the ``materialize`` call (the
Spark session is started before it). The online values of a sample of 1,000 entities are
compared between the two prefixes, and input rows/s are printed with their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REDIS = "redis://127.0.0.1:6379/0"


def _write_source(path: Path, rows: int, entities: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    writer = None
    step = 2_000_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        micros = rng.integers(0, 86_400_000_000, n)
        ts = pa.array(micros + int(T0.timestamp() * 1e6), pa.timestamp("us", tz="UTC"))
        table = pa.table(
            {
                "user_id": pa.array(rng.integers(0, entities, n), pa.int64()),
                "ts": ts,
                "ct": ts,
                "a": rng.random(n),
                "b": rng.random(n),
                "c": pa.array(rng.integers(0, 1000, n), pa.int64()),
                "d": pa.array(rng.integers(0, 50, n).astype(str)),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _definitions(source: Path) -> list[object]:
    import parity as p

    user = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
    view = p.FeatureView(
        "stats",
        entities=[user],
        schema=[
            p.Field("a", p.Float64),
            p.Field("b", p.Float64),
            p.Field("c", p.Int64),
            p.Field("d", p.String),
        ],
        source=p.ParquetSource(str(source), timestamp_field="ts", created_timestamp_field="ct"),
    )
    return [user, view]


def run_one(engine: str, root: Path, source: Path, prefix: str) -> dict[str, float]:
    """Sync the day in a fresh repository on ``engine``; timings and counts."""
    import parity as p

    offline = (
        "{type: duckdb, path: data/offline}"
        if engine == "duckdb"
        else '{type: spark, master: "local[2]", path: data/offline, '
        'conf: {spark.sql.shuffle.partitions: "8", spark.driver.memory: 2g}}'
    )
    root.mkdir(parents=True)
    (root / "parity.yaml").write_text(
        "project: bench\nregistry: {type: sqlite, path: data/registry.db}\n"
        f"offline_store: {offline}\n"
        f"online_store: {{type: redis, url: '{REDIS}', key_prefix: {prefix}}}\n"
    )
    with p.FeatureStore(root) as store:
        store.apply(_definitions(source), message="bench")
        if engine == "spark":
            store.offline_engine.session  # noqa: B018 -- start the JVM outside the clock
        clock = time.perf_counter()
        [report] = store.materialize(T0, T0 + timedelta(days=1))
        seconds = time.perf_counter() - clock
    return {
        "seconds": seconds,
        "rows_read": report.rows_read,
        "rows_written": report.rows_written,
        "outcome": str(report.outcome),
    }


def _online_sample(prefix: str) -> list[object]:
    import redis

    client = redis.Redis.from_url(REDIS)
    names = sorted(client.scan_iter(match=f"{prefix}:*", count=10_000))[:1000]
    values = [client.get(n) for n in names]
    client.close()
    return [(n.split(b":", 1)[1], v) for n, v in zip(names, values, strict=True)]


def _drop(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
    for start in range(0, len(keys), 5000):
        client.unlink(*keys[start : start + 5000])
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # engine root source
    args = parser.parse_args()
    if args.one:
        engine, root, source = args.one
        print(json.dumps(run_one(engine, Path(root), Path(source), f"bench_sync_{engine}")))
        return
    with tempfile.TemporaryDirectory(prefix="parity-bench-sync-") as folder:
        source = Path(folder) / "stats.parquet"
        clock = time.perf_counter()
        _write_source(source, args.rows, args.entities)
        print(
            f"source: {args.rows:,} rows, {args.entities:,} entities "
            f"({time.perf_counter() - clock:.1f} s to generate)"
        )
        results = {}
        for engine in ("duckdb", "spark"):
            _drop(f"bench_sync_{engine}")
            out = subprocess.run(
                [sys.executable, __file__, "--one", engine, f"{folder}/{engine}", str(source)],
                check=True,
                capture_output=True,
                text=True,
                env=os.environ,
            )
            results[engine] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[engine]
            print(
                f"{engine:7s} {r['seconds']:8.1f} s  {r['rows_read'] / r['seconds']:>12,.0f} "
                f"input rows/s  {r['rows_written'] / r['seconds']:>10,.0f} entity rows/s  "
                f"({r['rows_written']:,} entities, {r['outcome']})"
            )
        same = _online_sample("bench_sync_duckdb") == _online_sample("bench_sync_spark")
        print(f"online values of 1,000 entities identical: {same}")
        ratio = results["duckdb"]["seconds"] / results["spark"]["seconds"]
        print(f"spark / local throughput ratio: {ratio:.2f}x")
        for engine in ("duckdb", "spark"):
            _drop(f"bench_sync_{engine}")


if __name__ == "__main__":
    main()
