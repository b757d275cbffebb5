"""Offline point-in-time join benchmark: parity vs a hand-written DuckDB ASOF JOIN vs Feast.

Usage::

    python benchmarks/offline_pit.py --scale S          # or M; --repeat N, --skip-feast

Workload (see ``_workload.py``): 100,000 entities, three feature views of five features
(ttl 2 days, 7 days, none), event times uniform over a month, ~1% nulls, ~1% exact
event-time ties broken by the created timestamp. Scale S: 1M rows per view, 100k entity
rows; M: 10M rows per view, 1M entity rows.

Every measurement runs in its own subprocess (Feast in ``benchmarks/.venv-feast``, created
on first use from ``requirements-feast.txt``) and reports the wall and CPU time of the
retrieval (modules imported, entity frame already loaded as pandas, repository already
applied; the clock covers building the job and materialising the result as Arrow) and the
process's peak RSS. Outputs are then compared cell by cell with parity's,
matched on ``row_id``; mismatches are reported per peer, never hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _workload import Workload, workload  # noqa: E402

FEAST_VENV = HERE / ".venv-feast"
FEAST_REQUIREMENTS = HERE / "requirements-feast.txt"
DTYPES = ("float32", "float64", "int64", "float64", "string")


# --- runners: each runs in a fresh subprocess and writes its output to a Parquet file ---


class Stopwatch:
    """Wall time and CPU time (all threads of this process) since creation."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_parity(wl: Workload, out: Path, mode: str) -> tuple[float, float]:
    import duckdb  # noqa: F401 - imported before the clock, as Feast's modules are
    import pandas as pd

    from parity.definitions import Entity, FeatureView, Field, ParquetSource
    from parity.offline.base import ViewReadSpec
    from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
    from parity.types import Int64

    user = Entity("user", join_keys=[Field("user_id", Int64)])
    specs = [
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
    with tempfile.TemporaryDirectory() as tmp:
        engine = DuckDBOfflineEngine(
            DuckDBOfflineConfig(path=tmp, temp_directory=tmp), repo_root=tmp
        )
        entity_df = pd.read_parquet(wl.entity_path)
        clock = Stopwatch()
        table = engine.get_historical_features(
            entity_df,
            specs,
            point_in_time=mode,  # type: ignore[arg-type]
        ).to_arrow()
        seconds = clock.stop()
    _write(table, out)
    return seconds


def hand_written_sql(wl: Workload) -> str:
    ctes, selects, joins = [], ["e.row_id", "e.user_id", "e.event_timestamp"], []
    for i, view in enumerate(wl.views):
        ctes.append(
            f"f{i} AS (SELECT * FROM read_parquet('{view.path}') QUALIFY row_number() OVER "
            "(PARTITION BY user_id, event_timestamp ORDER BY created_timestamp DESC) = 1)"
        )
        for feature in view.features:
            if view.ttl_days is None:
                selects.append(f"f{i}.{feature}")
            else:
                selects.append(
                    f"CASE WHEN f{i}.event_timestamp >= e.event_timestamp - "
                    f"INTERVAL {view.ttl_days} DAY THEN f{i}.{feature} END AS {feature}"
                )
        joins.append(
            f"ASOF LEFT JOIN f{i} ON e.user_id = f{i}.user_id "
            f"AND e.event_timestamp >= f{i}.event_timestamp"
        )
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM entity e "
        f"{' '.join(joins)} ORDER BY e.row_id"
    )


def run_hand_written(wl: Workload, out: Path) -> tuple[float, float]:
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    entity_df = pd.read_parquet(wl.entity_path)
    clock = Stopwatch()
    con.register("entity", entity_df)
    relation = con.sql(hand_written_sql(wl))
    assert relation is not None
    table = relation.to_arrow_table()
    seconds = clock.stop()
    _write(table, out)
    return seconds


FEAST_YAML = """project: bench
registry: {root}/registry.db
provider: local
offline_store:
  type: {store}
online_store:
  type: sqlite
  path: {root}/online.db
entity_key_serialization_version: 3
"""


def run_feast(wl: Workload, out: Path, store_type: str) -> tuple[float, float]:
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float32, Float64, Int64, String

    types = {"float32": Float32, "float64": Float64, "int64": Int64, "string": String}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "feature_store.yaml").write_text(FEAST_YAML.format(root=tmp, store=store_type))
        user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
        views = [
            FeatureView(
                name=view.name,
                entities=[user],
                ttl=timedelta(days=view.ttl_days or 0),  # 0 means no ttl in Feast
                schema=[
                    Field(name=f, dtype=types[t])
                    for f, t in zip(view.features, DTYPES, strict=True)
                ],
                source=FileSource(
                    path=str(view.path),
                    timestamp_field="event_timestamp",
                    created_timestamp_column="created_timestamp",
                ),
            )
            for view in wl.views
        ]
        store = FeatureStore(repo_path=tmp)
        store.apply([user, *views])
        entity_df = pd.read_parquet(wl.entity_path)
        refs = [f"{view.name}:{f}" for view in wl.views for f in view.features]
        clock = Stopwatch()
        table = store.get_historical_features(entity_df=entity_df, features=refs).to_arrow()
        seconds = clock.stop()
    _write(table, out)
    return seconds


def _write(table: object, out: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, out)  # type: ignore[arg-type]


RUNNERS = {
    "parity": lambda wl, out: run_parity(wl, out, "event"),
    "parity-available": lambda wl, out: run_parity(wl, out, "available"),
    "duckdb-asof": run_hand_written,
    "feast-duckdb": lambda wl, out: run_feast(wl, out, "duckdb"),
    "feast-file": lambda wl, out: run_feast(wl, out, "file"),
}


def child(name: str, scale: str, out: Path) -> None:
    seconds, cpu_seconds = RUNNERS[name](workload(scale), out)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak_kb / 1024}
    print("RESULT " + json.dumps(result))


# --- parent: environments, subprocesses, comparison, report ---


def feast_python() -> Path:
    python = FEAST_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(FEAST_REQUIREMENTS)], check=True
        )
    return python


def warm_page_cache(wl: Workload) -> None:
    """Read every input file once, so each run starts with the data in the page cache
    (a run after one that exhausted memory would otherwise pay for disk reads)."""
    for path in [wl.entity_path, *(view.path for view in wl.views)]:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def measure(name: str, scale: str, out: Path, timeout: float) -> dict[str, object]:
    python = feast_python() if name.startswith("feast") else Path(sys.executable)
    command = [str(python), __file__, "--child", name, "--scale", scale, "--out", str(out)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    elapsed = time.perf_counter() - started
    tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
    if done.returncode == -9:
        tail = "killed by SIGKILL (the kernel OOM killer, out of memory)"
    return {"error": f"failed after {elapsed:.0f} s, exit {done.returncode}: {tail}"}


def compare(reference: Path, other: Path, features: list[str]) -> dict[str, object]:
    """Cell-by-cell comparison on ``row_id``: missing rows and mismatching cells per column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ref = pq.read_table(reference)
    got = pq.read_table(other)
    got = got.take(pc.sort_indices(got, [("row_id", "ascending")]))
    duplicates = got.num_rows - len(pc.unique(got.column("row_id")))
    joined = ref.select(["row_id", *features]).join(
        got.select(["row_id", *features])
        .group_by("row_id", use_threads=False)
        .aggregate([(f, "first") for f in features]),
        "row_id",
        join_type="inner",
    )
    result: dict[str, object] = {
        "rows": got.num_rows,
        "missing_rows": ref.num_rows - joined.num_rows,
        "duplicate_rows": duplicates,
    }
    mismatches = {}
    for feature in features:
        a, b = joined.column(feature), joined.column(f"{feature}_first")
        if a.type != b.type:
            b = b.cast(a.type)
        same = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
        bad = joined.num_rows - pc.sum(pc.cast(same, pa.int64())).as_py()
        if bad:
            mismatches[feature] = bad
    result["mismatched_cells"] = sum(mismatches.values())
    result["mismatched_columns"] = mismatches
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["XS", "S", "M"], default="S")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--child")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.scale, args.out)
        return

    wl = workload(args.scale)
    features = [f for view in wl.views for f in view.features]
    names = ["parity", "parity-available", "duckdb-asof"]
    if not args.skip_feast:
        names += ["feast-duckdb", "feast-file"]
    runs: dict[str, list[dict[str, object]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            for name in names:
                if runs[name] and "error" in runs[name][-1]:
                    continue
                out = Path(tmp) / f"{name}.parquet"
                warm_page_cache(wl)
                result = measure(name, args.scale, out, args.timeout)
                print(f"  run {attempt + 1} {name}: {result}", flush=True)
                runs[name].append(result)
        checks = {
            name: compare(Path(tmp) / "parity.parquet", Path(tmp) / f"{name}.parquet", features)
            for name in names[1:]
            if "error" not in runs[name][-1]
        }
    report(args.scale, runs, checks)


def _median(results: list[dict[str, object]], key: str) -> float | None:
    values = [float(r[key]) for r in results if "error" not in r]  # type: ignore[arg-type]
    return statistics.median(values) if values else None


def _cells(name: str, check: dict[str, object] | None) -> tuple[str, str]:
    if check is None:
        return "100%", "(reference)"
    rows = str(check["rows"])
    if name == "parity-available":
        return rows, (
            f"other semantics (point_in_time='available'): {check['mismatched_cells']} cells "
            "differ, from rows created after the entity timestamp"
        )
    if not check["mismatched_cells"] and not check["missing_rows"]:
        return rows, "identical"
    return rows, (
        f"{check['mismatched_cells']} cells differ, {check['missing_rows']} rows missing, "
        f"{check['duplicate_rows']} duplicated {check['mismatched_columns']}"
    )


def report(
    scale: str, runs: dict[str, list[dict[str, object]]], checks: dict[str, dict[str, object]]
) -> None:
    parity_wall = _median(runs["parity"], "seconds")
    parity_cpu = _median(runs["parity"], "cpu_seconds")
    count = max(len(r) for r in runs.values())
    print(f"\nScale {scale}: medians of {count} interleaved runs; load average {os.getloadavg()}")
    print(
        "| engine | wall s (median) | wall s (min) | CPU s (median) | parity wall / engine "
        "| parity CPU / engine | peak RSS MB | rows | cells vs parity |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            print(f"| {name} | {results[-1]['error']} | | | | | | | |")
            continue
        wall = _median(results, "seconds")
        cpu = _median(results, "cpu_seconds")
        fastest = min(float(r["seconds"]) for r in ok)  # type: ignore[arg-type]
        peak = max(float(r["peak_mb"]) for r in ok)  # type: ignore[arg-type]
        # Ratios below 1 mean parity is faster.
        wall_ratio = f"{parity_wall / wall:.2f}" if parity_wall and wall else "-"
        cpu_ratio = f"{parity_cpu / cpu:.2f}" if parity_cpu and cpu else "-"
        rows, cells = _cells(name, checks.get(name))
        print(
            f"| {name} | {wall:.2f} | {fastest:.2f} | {cpu:.2f} | {wall_ratio} | {cpu_ratio} "
            f"| {peak:.0f} | {rows} | {cells} |"
        )


if __name__ == "__main__":
    main()
