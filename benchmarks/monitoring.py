"""Benchmark: drift over 1,000,000 served rows x 50 features, and a 10,000-key audit.

Targets (issue #7): drift under 5 s against a 1,000,000-row reference; the consistency
audit of 10,000 sampled keys under 10 s (2 cores).

Drift (45 numeric + 5 categorical features, the current window shifted on some):

1. ``profile_table``: the reference profile (deciles, counts, summary, categories);
2. ``compare_to_reference`` on an Arrow window: PSI, JS, KS (sampled), chi-square, BH;
3. the same from the request log: 1,000,000 served rows in the server's Parquet layout
   (JSON ``values``) turned into columns by DuckDB, then (2);
4. baseline in the same run: the same statistics computed naively per feature with
   NumPy/SciPy (``np.quantile`` + ``np.searchsorted`` + ``ks_2samp`` on the full columns +
   ``chi2_contingency``), as a first implementation would.

Audit: a view of 100,000 entities (5 features) materialized to the SQLite online store,
then ``audit_view`` on 10,000 sampled keys; baseline: the sync controller's row-by-row
``compare_online_offline`` on the same keys.

Run: ``python benchmarks/monitoring.py [--rows 1000000] [--entities 100000]``
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC, CATEGORICAL = 45, 5
CATEGORIES = np.array(["DE", "FR", "US", "GB", "IT", "ES", "NL", "BR"])


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def frame(rows: int, seed: int, shift: float) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        values = rng.normal(shift * (i % 5) / 4, 1 + shift * (i % 3) / 4, rows)
        mask = rng.random(rows) < 0.01
        columns[f"f{i:02d}"] = pa.array(values, mask=mask)
    for i in range(CATEGORICAL):
        p = np.full(len(CATEGORIES), 1 / len(CATEGORIES))
        if shift and i % 2:
            p = np.roll(np.linspace(0.5, 1.5, len(CATEGORIES)), i)
            p /= p.sum()
        columns[f"c{i}"] = pa.array(CATEGORIES[rng.choice(len(CATEGORIES), rows, p=p)])
    return pa.table(columns)


def naive_drift(reference: pa.Table, current: pa.Table) -> dict[str, float]:
    """What a first implementation does: every statistic on the full columns, per feature."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp

    out = {}
    for name in reference.column_names:
        ref = reference.column(name).to_numpy(zero_copy_only=False)
        cur = current.column(name).to_numpy(zero_copy_only=False)
        if name.startswith("f"):
            ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
            edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))
            r = np.bincount(np.searchsorted(edges, ref), minlength=len(edges) + 1) + 1e-6
            c = np.bincount(np.searchsorted(edges, cur), minlength=len(edges) + 1) + 1e-6
            ks_2samp(ref, cur)
        else:
            cats = np.unique(ref)
            r = np.array([(ref == k).sum() for k in cats]) + 1e-6
            c = np.array([(cur == k).sum() for k in cats]) + 1e-6
            chi2_contingency(np.array([r, c]), correction=False)
        r, c = r / r.sum(), c / c.sum()
        jensenshannon(r, c, base=2)
        out[name] = float(np.sum((c - r) * np.log(c / r)))
    return out


def write_request_log(root: Path, window: pa.Table) -> None:
    """The window in the server's request log layout (one Parquet file per 250k rows)."""
    import duckdb

    from parity.serve.request_log import request_log_schema

    names = window.column_names
    values = "json_array(" + ", ".join(names) + ")"
    folder = root / "date=2026-11-24"
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.register("w", window)
        table = con.sql(
            f"SELECT 'r' || (row_number() OVER ()) AS request_id, "
            f"TIMESTAMPTZ '2026-11-24 08:00:00+00' AS served_at, 'bench' AS service, "
            f"1::INTEGER AS service_version, ['bench@v1'] AS view_versions, "
            f"0::INTEGER AS row_index, '{{}}' AS entity_key, "
            f"{[n for n in names]}::VARCHAR[] AS feature_names, {values}::VARCHAR AS values, "
            f"[]::VARCHAR[] AS statuses, []::TIMESTAMPTZ[] AS event_timestamps, "
            f"1.0::DOUBLE AS sample_weight FROM w"
        ).to_arrow_table()
    table = table.cast(request_log_schema())
    for i, start in enumerate(range(0, table.num_rows, 250_000)):
        pq.write_table(table.slice(start, 250_000), folder / f"part-{i}.parquet")


def bench_drift(rows: int) -> list[tuple[str, float]]:
    from parity.monitor.drift import compare_to_reference
    from parity.monitor.profile import profile_table, reference_sample
    from parity.monitor.served import served_window

    reference, current = frame(rows, 1, 0.0), frame(rows, 2, 0.3)
    results = []
    seconds, profile = timed(lambda: profile_table(reference, dataset="bench"), repeat=1)
    sample = reference_sample(reference, profile)
    results.append((f"profile reference ({rows:,} x 50)", seconds))
    seconds, report = timed(lambda: compare_to_reference(profile, current, reference_sample=sample))
    results.append((f"drift, Arrow window ({rows:,} x 50)", seconds))
    drifted = sum(1 for f in report.features if f.status.value != "ok")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "request_log"
        write_request_log(log, current)
        kinds = {f.name: f.kind for f in profile.features}

        def from_log() -> Any:
            window = served_window(Path(tmp), kinds=kinds, log_root=log, service="bench")
            return compare_to_reference(profile, window, reference_sample=sample)

        seconds, logged = timed(from_log, repeat=1)
        assert logged.current_rows == rows
        results.append((f"drift, from the request log ({rows:,} rows)", seconds))
    seconds, _ = timed(lambda: naive_drift(reference, current), repeat=1)
    results.append(("baseline: naive NumPy/SciPy per feature (full KS)", seconds))
    print(f"  drift verdicts: {drifted} of {len(report.features)} features not ok")
    return results


def bench_audit(entities: int, sample: int) -> list[tuple[str, float]]:
    import parity as p
    from parity.monitor.audit import audit_view
    from parity.offline.base import ViewReadSpec
    from parity.online.base import ViewTable
    from parity.sync.consistency import compare_online_offline

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "parity.yaml").write_text("project: bench\n")
        rng = np.random.default_rng(0)
        n = entities * 3
        end = datetime.now(UTC)
        # Distinct event times per entity: with a tie and no created timestamp the online
        # store and the offline join may pick different rows (a real skew, not this test).
        hours = np.repeat(np.arange(3) * 200, entities) + rng.integers(1, 200, n)
        ts = pa.array([end - timedelta(hours=int(h)) for h in hours], pa.timestamp("us", tz="UTC"))
        data = {"user_id": np.tile(np.arange(entities), 3), "event_timestamp": ts}
        data |= {f"x{i}": rng.normal(size=n) for i in range(4)}
        data["tier"] = CATEGORIES[rng.integers(0, 4, n)]
        (root / "data").mkdir()
        pq.write_table(pa.table(data), root / "data/users.parquet")
        user = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
        view = p.FeatureView(
            "users",
            entities=[user],
            schema=[p.Field(f"x{i}", p.Float64) for i in range(4)] + [p.Field("tier", p.String)],
            source=p.ParquetSource("data/users.parquet", timestamp_field="event_timestamp"),
        )
        with p.FeatureStore(root) as store:
            store.apply([user, view], message="bench")
            started = time.perf_counter()
            store.materialize(end - timedelta(days=400), end + timedelta(seconds=1))
            took = time.perf_counter() - started
            print(f"  setup: {entities:,} entities materialized in {took:.1f} s")
            spec = ViewReadSpec.from_view(view, version=1, repo_root=root)
            table = ViewTable.from_view(view, project="bench", version=1)
            seconds, report = timed(
                lambda: audit_view(
                    store.offline_engine, store.online_store, spec, table, sample=sample
                )
            )
            assert report.sampled == sample and report.disagreeing == 0, report.to_dict()
            results.append((f"audit_view, {sample:,} sampled keys", seconds))
            keys = pa.table({"user_id": pa.array(np.arange(sample), pa.int64())})
            at = end + timedelta(seconds=1)

            def baseline() -> Any:
                return compare_online_offline(
                    store.offline_engine, store.online_store,
                    dataclasses.replace(spec), table, keys, at=at,
                )  # fmt: skip

            seconds, _ = timed(baseline)
            results.append((f"baseline: sync's compare_online_offline, {sample:,} keys", seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=10_000)
    args = parser.parse_args()
    print(f"monitoring benchmark: {args.rows:,} rows x 50 features; audit of {args.sample:,} keys")
    for name, seconds in bench_drift(args.rows) + bench_audit(args.entities, args.sample):
        print(f"  {name:<56}  {seconds:8.2f} s")


if __name__ == "__main__":
    main()
