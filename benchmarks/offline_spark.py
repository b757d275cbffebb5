"""Spark offline engine vs DuckDB: the same point-in-time join, cells compared, time ratio.

Usage::

    python benchmarks/offline_spark.py --scale S      # XS, S or M; --mode event|available

Workload: ``_workload.py`` (100,000 entities, three views of five features, ttl 2 days,
7 days and none, ~1% nulls, ~1% event-time ties). XS: 100k rows per view, 10k entity rows;
S: 1M / 100k; M: 10M / 1M. Each engine runs in its own subprocess, DuckDB with ``threads=2``
and Spark on ``local[2]`` (4 shuffle partitions per core), so both use the same two cores.
The clock covers planning the join and materialising the whole result as Arrow on the
driver (the entity frame is already loaded; Spark's session start is timed separately).
The two results are compared cell by cell (``Table.equals``), and rows/s per core is
entity rows / wall seconds / 2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _workload import Workload, workload  # noqa: E402

DTYPES = ("float32", "float64", "int64", "float64", "string")
CORES = 2


def _specs(wl: Workload) -> list[object]:
    from parity.definitions import Entity, FeatureView, Field, ParquetSource
    from parity.offline.base import ViewReadSpec
    from parity.types import Int64

    user = Entity("user", join_keys=[Field("user_id", Int64)])
    return [
        ViewReadSpec.from_view(
            FeatureView(
                view.name,
                entities=[user],
                schema=[Field(f, t) for f, t in zip(view.features, DTYPES, strict=True)],
                source=ParquetSource(
                    str(view.path),
                    timestamp_field="event_timestamp",
                    created_timestamp_field="created_timestamp",
                ),
                ttl=None if view.ttl_days is None else timedelta(days=view.ttl_days),
            ),
            version=1,
            repo_root=HERE,
        )
        for view in wl.views
    ]


def run(engine_name: str, scale: str, mode: str, out: Path) -> dict[str, float]:
    """One engine's join in this process; writes the result to ``out``."""
    import pyarrow.parquet as pq

    wl = workload(scale)
    specs = _specs(wl)
    entity = pq.read_table(wl.entity_path)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        if engine_name == "duckdb":
            from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine

            engine: object = DuckDBOfflineEngine(
                DuckDBOfflineConfig(path=tmp, temp_directory=tmp, threads=CORES), repo_root=tmp
            )
        else:
            from parity.offline.spark import SparkOfflineConfig, SparkOfflineEngine

            conf = {
                "spark.sql.shuffle.partitions": str(4 * CORES),
                "spark.ui.enabled": "false",
                "spark.driver.memory": "4g",
                "spark.local.dir": tmp,
            }
            engine = SparkOfflineEngine(
                SparkOfflineConfig(path=tmp, master=f"local[{CORES}]", conf=conf), repo_root=tmp
            )
            engine.session.sparkContext.setLogLevel("ERROR")  # type: ignore[attr-defined]
        session_seconds = time.perf_counter() - start
        clock = time.perf_counter()
        table = engine.get_historical_features(  # type: ignore[attr-defined]
            entity, specs, point_in_time=mode
        ).to_arrow()
        seconds = time.perf_counter() - clock
        pq.write_table(table, out)
        engine.close()  # type: ignore[attr-defined]
    return {
        "seconds": seconds,
        "session_seconds": session_seconds,
        "rows": table.num_rows,
        "rows_per_s_per_core": table.num_rows / seconds / CORES,
        # Python process only: Spark's JVM is a child process, not counted here.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="XS", choices=["XS", "S", "M"])
    parser.add_argument("--mode", default="event", choices=["event", "available"])
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run(args.engine, args.scale, args.mode, Path(args.out))))
        return
    import pyarrow.parquet as pq

    workload(args.scale)  # generate once, outside any clock
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("duckdb", "spark"):
            out = Path(tmp) / f"{name}.parquet"
            proc = subprocess.run(
                [sys.executable, __file__, "--scale", args.scale, "--mode", args.mode,
                 "--engine", name, "--out", str(out)],
                capture_output=True, text=True, check=True, env=os.environ.copy(),
            )  # fmt: skip
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(name, results[name], flush=True)
        identical = pq.read_table(Path(tmp) / "duckdb.parquet").equals(
            pq.read_table(Path(tmp) / "spark.parquet")
        )
    ratio = results["spark"]["seconds"] / results["duckdb"]["seconds"]
    summary = {"scale": args.scale, "mode": args.mode, "cells_identical": identical,
               "spark_over_duckdb": round(ratio, 2), "load_avg": os.getloadavg()}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
