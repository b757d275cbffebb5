"""Benchmark: what monitoring costs a feature server, and what the profile costs a save.

1. ``ServingMonitor`` on the example repository (``--rows`` transactions, synced to the
   SQLite online store): one gauge refresh (freshness scans of every live version's
   online keys, newest audit and quality run), one block refresh (new audit/unblock
   files only), and the per-read ``check`` with nothing blocked and with another
   version blocked. Gauges and blocks are refreshed in a background thread; only
   ``check`` runs per read.
2. ``job.save(name)`` of a training set (every transaction row as an entity row, two
   views) with and without the reference profile saved beside it.

Run: ``python benchmarks/monitoring_serving.py [--rows 300000] [--save-rows 1000000]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from parity.monitor.blocking import Block
from parity.monitor.serving import ServingMonitor
from parity.scaffold import init_repo
from parity.store import FeatureStore

VIEWS = ("user_transaction_stats@v1", "user_profile@v1")


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def serving_monitor(folder: Path, rows: int) -> None:
    store = FeatureStore(init_repo(folder / "serve", project="bench_serve", rows=rows))
    store.apply(message="bench")
    now = datetime.now(UTC)
    for report in store.materialize(now - timedelta(days=400), now):
        store.promote(report.ref, message="bench")
    monitor = ServingMonitor(store)
    gauges = timed(monitor.refresh_gauges, 5)
    blocks = timed(monitor.refresh_blocks, 20)
    entities = sum(
        float(line.rsplit(" ", 1)[1])
        for line in monitor.render().splitlines()
        if line.startswith("parity_monitor_online_entities{")
    )
    print(f"serving monitor, {rows:,} transactions, {entities:,.0f} online entities:")
    print(f"  gauge refresh  median {statistics.median(gauges) * 1000:7.1f} ms (background)")
    print(f"  block refresh  median {statistics.median(blocks) * 1000:7.2f} ms (background)")
    refs = (*VIEWS, "merchant_risk@v1")
    calls = 1_000_000
    for label, blocked in (("nothing blocked", {}), ("another blocked", {"x@v1": _block()})):
        monitor._blocked = blocked
        started = time.perf_counter()
        for _ in range(calls):
            monitor.check(refs)
        per_call = (time.perf_counter() - started) / calls * 1e9
        print(f"  check per read ({label}): {per_call:5.0f} ns")
    store.close()


def _block() -> Block:
    return Block("x", 1, "a", datetime.now(UTC), 0.1, 0.0)


def profile_on_save(folder: Path, rows: int) -> None:
    root = init_repo(folder / "save", project="bench_save", rows=rows)
    store = FeatureStore(root)
    store.apply(message="bench")
    entities = pq.read_table(root / "data/user_transaction_stats.parquet").select(
        ["user_id", "event_timestamp"]
    )
    plain, profiled = [], []
    for i in range(3):
        job = store.get_historical_features(entities, features=list(VIEWS))
        plain += timed(lambda job=job, i=i: job.job.save(f"plain{i}"), 1)  # type: ignore[attr-defined]
        job = store.get_historical_features(entities, features=list(VIEWS))
        profiled += timed(lambda job=job, i=i: job.save(f"profiled{i}"), 1)
    base, full = statistics.median(plain), statistics.median(profiled)
    print(f"training set save, {entities.num_rows:,} rows (median of 3):")
    print(f"  save {base:.2f} s, save + profile {full:.2f} s (+{full - base:.2f} s)")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--save-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parity-bench-monitor-") as folder:
        serving_monitor(Path(folder), args.rows)
        profile_on_save(Path(folder), args.save_rows)


if __name__ == "__main__":
    main()
