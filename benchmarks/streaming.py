"""Streaming and aggregations benchmark (docs/benchmarks.md, "Streaming and aggregations").

Three measures, on the local Redis server:

1. latency: events published to Redis Streams at a steady rate (default 2,000/s) while
   ``parity stream run`` (a separate process) consumes them; the processor records, per
   event, the time from the Redis stream id (publish time, ms resolution: reads up to
   1 ms high) to the end of the online write that makes its value visible.
2. throughput: a backlog of events is published first, then one processor, and then two
   processes of the same consumer group, consume it; events/s over the wall time.
3. offline: window aggregations (sum and count over 1 h and 1 d) for an entity frame of
   100k rows over scale S (1M events) and M (10M events), through the engine, against a
   hand-written DuckDB window query of the same semantics, in the same run.

Usage::

    python benchmarks/streaming.py                 # everything
    python benchmarks/streaming.py --only offline --scales S
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import parity as p
from parity.definitions import Aggregation
from parity.offline.base import ViewReadSpec
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
from parity.stream import partition_of
from parity.stream.events import encode_event

REDIS = os.environ.get("PARITY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
AGGS = [
    Aggregation("amount", "sum", timedelta(hours=1), name="spend_1h"),
    Aggregation("amount", "count", timedelta(days=1), name="txns_1d"),
]
PARTITIONS = 4


def _repo(root: Path, prefix: str) -> Path:
    (root / "parity.yaml").write_text(
        f"project: {prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{REDIS}', key_prefix: {prefix}}}\n"
    )
    view = p.FeatureView(
        "txn_stats",
        entities=[USER],
        source=p.DeltaSource("data/txns", timestamp_field="ts"),
        aggregations=AGGS,
    )
    with p.FeatureStore(root) as store:
        store.apply([USER, view], message="benchmark")
    return root


def _cleanup(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    for pattern in (f"{prefix}*", f"parity:stream:{prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
    client.close()


def _processor(root: Path, stream: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parity",
            "--repo",
            str(root),
            "stream",
            "run",
            "txn_stats",
            "--stream",
            stream,
            "--url",
            REDIS,
            "--coordination-url",
            REDIS,
            "--partitions",
            str(PARTITIONS),
            "--lateness",
            "3600",
            "--seconds",
            str(seconds),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_started(client: Any, prefix: str) -> None:
    """Until the processor owns every partition and its offline appender holds its lease
    (the appender's start-up is not steady state)."""
    leases = [f"{prefix}:lease:{p}" for p in range(PARTITIONS)] + [f"{prefix}:lease:appender"]
    deadline = time.monotonic() + 120
    while client.exists(*leases) < len(leases):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the processor did not start in 2 minutes ({prefix})")
        time.sleep(0.05)


def _event(n: int, rng: random.Random, users: int, at: datetime) -> tuple[int, bytes]:
    user = rng.randint(1, users)
    payload = encode_event(
        {"event_id": f"e{n}", "user_id": user, "ts": at, "amount": round(rng.uniform(1, 500), 2)}
    )
    return partition_of((user,), PARTITIONS), payload


def latency(rate: int, seconds: float) -> dict[str, Any]:
    """Steady ``rate`` events/s for ``seconds``; p50/p99 publish -> visible online."""
    import redis

    prefix = f"bench_lat_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        root = _repo(Path(tmp), prefix)
        stream = f"{prefix}_txns"
        proc = _processor(root, stream, seconds + 10)
        client = redis.Redis.from_url(REDIS)
        _wait_started(client, f"parity:stream:{stream}:{prefix}_txn_stats_v1")
        time.sleep(0.5)
        rng = random.Random(1)
        # Paced by an absolute schedule: event n is due at start + n / rate, so a late
        # wake-up sends the overdue events at once and the rate never drifts. Latency is
        # measured from each message's Redis stream id (its publish time), so a producer
        # delay is not hidden, and it does not count against the processor either.
        sent, start = 0, time.perf_counter()
        total = int(seconds * rate)
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            if due > sent:
                pipe = client.pipeline(transaction=False)
                for n in range(sent, due):
                    partition, payload = _event(n, rng, 10_000, datetime.now(UTC))
                    pipe.xadd(f"{stream}:{partition}", {"e": payload})
                pipe.execute()
                sent = due
            wake = start + sent / rate
            time.sleep(max(0.0, wake - time.perf_counter()))
        out, err = proc.communicate(timeout=60)
        client.close()
        _cleanup(prefix)
    if proc.returncode != 0:
        raise RuntimeError(err)
    metrics = json.loads(out)
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "applied": metrics["applied"],
        "p50_ms": metrics["latency_p50_us"] / 1000,
        "p99_ms": metrics["latency_p99_us"] / 1000,
    }


def throughput(events: int, processes: int) -> dict[str, Any]:
    """A backlog of ``events`` consumed by ``processes`` processes of one group."""
    import redis

    prefix = f"bench_tp{processes}_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        root = _repo(Path(tmp), prefix)
        stream = f"{prefix}_txns"
        client = redis.Redis.from_url(REDIS)
        rng = random.Random(2)
        pipe = client.pipeline(transaction=False)
        for n in range(events):
            partition, payload = _event(n, rng, 100_000, T0 + timedelta(milliseconds=n))
            pipe.xadd(f"{stream}:{partition}", {"e": payload})
            if n % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        group = f"{prefix}_txn_stats_v1"
        started = time.perf_counter()
        procs = [_processor(root, stream, 600) for _ in range(processes)]
        # Done when every partition's group has read everything and acknowledged it.
        while True:
            time.sleep(0.05)
            done = True
            for partition in range(PARTITIONS):
                key = f"{stream}:{partition}"
                try:
                    info = {g["name"]: g for g in client.xinfo_groups(key)}
                except redis.ResponseError:
                    done = False
                    break
                g = info.get(group.encode()) or info.get(group)
                if g is None or g.get("lag") not in (0, None) or g["pending"]:
                    done = False
                    break
                if g.get("lag") is None:
                    done = False
                    break
            if done:
                break
            if time.perf_counter() - started > 600:
                raise RuntimeError("throughput run did not finish in 10 minutes")
        elapsed = time.perf_counter() - started
        for proc in procs:
            proc.terminate()
        applied = sum(json.loads(proc.communicate(timeout=60)[0])["applied"] for proc in procs)
        client.close()
        _cleanup(prefix)
    # Start-up (imports, leases) is inside the wall time: measured separately, subtracted.
    return {"events": events, "processes": processes, "applied": applied, "seconds": elapsed}


def _startup_seconds() -> float:
    prefix = f"bench_start_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        root = _repo(Path(tmp), prefix)
        started = time.perf_counter()
        proc = _processor(root, f"{prefix}_txns", 0.0)
        proc.communicate(timeout=60)
        _cleanup(prefix)
    return time.perf_counter() - started


HAND_WRITTEN = """
WITH probes AS (
  SELECT DISTINCT user_id, epoch_us(event_timestamp) AS t FROM entities),
u AS (
  SELECT user_id, epoch_us(ts) AS t, amount, false AS probe FROM events
  WHERE user_id IN (SELECT user_id FROM probes)
  UNION ALL SELECT user_id, t, NULL, true FROM probes),
w AS (
  SELECT user_id, t, probe,
    sum(amount) OVER (PARTITION BY user_id ORDER BY t
                      RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW) AS spend_1h,
    count(amount) OVER (PARTITION BY user_id ORDER BY t
                        RANGE BETWEEN 86399999999 PRECEDING AND CURRENT ROW) AS txns_1d
  FROM u)
SELECT e.*, w.spend_1h, w.txns_1d
FROM entities e JOIN w ON w.probe AND w.user_id = e.user_id
  AND w.t = epoch_us(e.event_timestamp)
"""


def offline(scale: str) -> dict[str, Any]:
    """Engine vs hand-written window query over ``scale`` events, 100k entity rows."""
    import duckdb

    n = {"S": 1_000_000, "M": 10_000_000}[scale]
    users = 100_000
    rng = np.random.default_rng(3)
    span_us = 90 * 86_400 * 1_000_000
    t0 = int(T0.timestamp() * 1_000_000)
    stamp = pa.timestamp("us", tz="UTC")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        events = pa.table(
            {
                "user_id": pa.array(rng.integers(1, users + 1, n), pa.int64()),
                "ts": pa.array(t0 + rng.integers(0, span_us, n), pa.int64()).cast(stamp),
                "amount": pa.array(np.round(rng.uniform(1, 500, n), 2), pa.float64()),
            }
        )
        pq.write_table(events, root / "events.parquet")
        rows = 100_000
        entities = pa.table(
            {
                "user_id": pa.array(rng.integers(1, users + 1, rows), pa.int64()),
                "event_timestamp": pa.array(t0 + rng.integers(0, span_us, rows), pa.int64()).cast(
                    stamp
                ),
            }
        )
        view = p.FeatureView(
            "txn_stats",
            entities=[USER],
            source=p.ParquetSource("events.parquet", timestamp_field="ts"),
            aggregations=AGGS,
        )
        spec = ViewReadSpec.from_view(view, version=1, repo_root=root)
        timings: dict[str, list[float]] = {"engine": [], "hand_written": []}
        engine = DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=root)
        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("entities", entities)
        conn.read_parquet(str(root / "events.parquet")).create_view("events")
        for _ in range(3):  # alternate, best of three each
            started = time.perf_counter()
            ours = engine.get_historical_features(entities, [spec]).to_arrow()
            timings["engine"].append(time.perf_counter() - started)
            started = time.perf_counter()
            theirs = conn.sql(HAND_WRITTEN).to_arrow_table()
            timings["hand_written"].append(time.perf_counter() - started)
        assert ours.num_rows == theirs.num_rows == rows
        engine.close()
        conn.close()
    best = {k: min(v) for k, v in timings.items()}
    return {
        "scale": scale,
        "events": n,
        "entity_rows": rows,
        "engine_s": round(best["engine"], 3),
        "hand_written_s": round(best["hand_written"], 3),
        "ratio": round(best["engine"] / best["hand_written"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["latency", "throughput", "offline"])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scales", default="S,M")
    args = parser.parse_args()
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    if args.only in (None, "latency"):
        results["latency"] = latency(args.rate, args.seconds)
        print(json.dumps(results["latency"]), flush=True)
    if args.only in (None, "throughput"):
        startup = _startup_seconds()
        results["startup_s"] = round(startup, 2)
        for processes in (1, 2):
            run = throughput(args.events, processes)
            run["events_per_s"] = round(run["events"] / (run["seconds"] - startup))
            results[f"throughput_{processes}"] = run
            print(json.dumps(run), flush=True)
    if args.only in (None, "offline"):
        for scale in args.scales.split(","):
            results[f"offline_{scale}"] = offline(scale)
            print(json.dumps(results[f"offline_{scale}"]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
