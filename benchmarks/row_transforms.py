"""Online cost of a row transform: the same 1-entity SDK read with and without it.

A repository with one view (2 features) on the embedded SQLite online store and two
services over the same features: ``plain``, and ``scored`` which adds one row transform
(``amount / amount_mean`` plus a request field). Both are read in the same process,
interleaved, ``--requests`` times each after a warm-up; the table gives p50 / p99 of
each and the p50 difference (the transform's added latency).

Run:
    python benchmarks/row_transforms.py --requests 5000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from parity import FeatureStore

DEFINITIONS = """
from datetime import timedelta
from parity import Entity, FeatureService, FeatureView, Field, Float64, Int64, ParquetSource
from parity import RowTransform

user = Entity("user", join_keys=[Field("user_id", Int64)])
stats = FeatureView(
    "stats", entities=[user],
    schema=[Field("amount_mean", Float64), Field("txn_count", Int64)],
    source=ParquetSource("data/stats.parquet", timestamp_field="event_timestamp"),
    ttl=timedelta(days=30),
)
ratio = RowTransform(
    "ratio", inputs=["amount", "amount_mean"], outputs=[Field("amount_ratio", Float64)],
    function=lambda df: {"amount_ratio": df["amount"] / df["amount_mean"]},
)
plain = FeatureService("plain", features=["stats"])
scored = FeatureService(
    "scored", features=["stats"], request_schema=[Field("amount", Float64)], transforms=[ratio]
)
"""


def build(root: Path) -> FeatureStore:
    (root / "data").mkdir(parents=True)
    (root / "parity.yaml").write_text(
        "project: bench\nregistry: {type: sqlite, path: data/registry.db}\n"
        "offline_store: {type: duckdb, path: data/offline}\n"
        "online_store: {type: sqlite, path: data/online.db}\n"
    )
    (root / "features.py").write_text(DEFINITIONS)
    now = datetime.now(UTC)
    users = 1000
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(range(users), pa.int64()),
                "amount_mean": [float(u % 50) + 0.5 for u in range(users)],
                "txn_count": pa.array(range(users), pa.int64()),
                "event_timestamp": pa.array(
                    [now - timedelta(hours=1)] * users, pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        root / "data" / "stats.parquet",
    )
    store = FeatureStore(root)
    store.apply(message="bench")
    store.materialize(now - timedelta(days=1), now)
    store.promote("stats@v1", message="bench", force=True)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp) / "repo")
        timings: dict[str, list[float]] = {"plain": [], "scored": []}
        for index in range(args.requests + 500):
            rows = [{"user_id": index % 1000, "amount": 12.5}]
            for service in ("plain", "scored"):
                started = time.perf_counter()
                store.get_online_features(feature_service=service, entity_rows=rows)
                if index >= 500:
                    timings[service].append(time.perf_counter() - started)
        store.close()
    print("| service | p50 (us) | p99 (us) |\n| --- | --- | --- |")
    p50 = {}
    for service, samples in timings.items():
        samples.sort()
        p50[service] = statistics.median(samples) * 1e6
        p99 = samples[int(len(samples) * 0.99)] * 1e6
        print(f"| {service} | {p50[service]:.0f} | {p99:.0f} |")
    print(f"\nadded by one row transform (p50): {p50['scored'] - p50['plain']:.0f} us")


if __name__ == "__main__":
    main()
