"""Benchmark: drift over 1,000,000 served rows x 50 features, and a 10,000-key audit.

Targets (issue #7): drift under 5 s against a 1,000,000-row reference; the consistency
audit of 10,000 sampled keys under 10 s (2 cores).

Drift (45 numeric + 5 categorical features, the current window shifted on some):

1. ``profile_table``: the reference profile (deciles, counts, summary, categories);
2. ``compare_to_reference`` on an Arrow window: PSI, JS, KS (sampled), chi-square, BH;
3. the same from the request log: 1,000,000 served rows in the server's typed Parquet
   layout (a ``features`` struct of typed columns, files of 20,000 rows as the writer
   flushes them) read by ``served_window`` (a columnar DuckDB scan), then (2);
4. baseline in the same run: the same statistics computed naively per feature with
   NumPy/SciPy (``np.quantile`` + ``np.searchsorted`` + ``ks_2samp`` on the full columns +
   ``chi2_contingency``), as a first implementation would.

Request log writing: 50,000 served rows x 50 features (5 per request) encoded as the
server's sending thread does, then built and written by the writer's code (in-process),
in CPU seconds.

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


def write_request_log(root: Path, window: pa.Table, *, file_rows: int = 20_000) -> None:
    """The window in the server's typed request log layout, one file per ``file_rows``
    (the writer's default ``flush_rows``), as the writer process writes it."""
    from parity.monitor.log_layout import LAYOUT_PREFIX, LogLayout, layout_schema
    from parity.retrieval.vectors import FeatureStatus

    names = window.column_names
    layout = LogLayout(
        service="bench",
        service_version=1,
        features=tuple((n, "float64" if n.startswith("f") else "string", 0) for n in names),
        join_keys=(("user_id", "int64"),),
        views=("bench@v1",),
        statuses=tuple(s.value for s in FeatureStatus),
    )
    schema = layout_schema(layout)
    rows = window.num_rows
    ts = pa.timestamp("us", tz="UTC")
    served = pa.array(np.full(rows, 1_795_996_800_000_000), pa.int64()).cast(ts)  # 2026-11-29
    dictionary = pa.array(layout.statuses)
    statuses = [
        pa.DictionaryArray.from_arrays(
            pa.array(window.column(n).is_null().to_numpy(zero_copy_only=False).astype(np.int8)),
            dictionary,  # 0 present, 1 null_value
        )
        for n in names
    ]
    features = [window.column(n).combine_chunks() for n in names]
    table = pa.Table.from_arrays(
        [
            pa.array([f"r{i}" for i in range(rows)]),
            pa.array(np.zeros(rows, np.int32)),
            served,
            pa.array(["bench"] * rows),
            pa.array(np.ones(rows, np.int32)),
            pa.array(np.ones(rows)),
            pa.StructArray.from_arrays(
                [pa.array(np.arange(rows))], fields=list(schema.field("entity").type)
            ),
            pa.StructArray.from_arrays(features, fields=list(schema.field("features").type)),
            pa.StructArray.from_arrays(statuses, fields=list(schema.field("statuses").type)),
            pa.StructArray.from_arrays(
                [pa.array(np.full(rows, 1_795_993_200_000_000), pa.int64()).cast(ts)],
                fields=list(schema.field("event_timestamps").type),
            ),
        ],
        schema=schema,
    )
    folder = root / f"{LAYOUT_PREFIX}{layout.name}" / "date=2026-11-29"
    folder.mkdir(parents=True)
    for i, start in enumerate(range(0, table.num_rows, file_rows)):
        pq.write_table(table.slice(start, file_rows), folder / f"part-{i:05d}.parquet")


def bench_drift(rows: int) -> list[tuple[str, float]]:
    from parity.monitor.drift import compare_to_reference
    from parity.monitor.profile import profile_table, reference_sample
    from parity.monitor.served import sampled_weights, served_window

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

        def window() -> Any:
            # What served_drift reads: the profile's features and the sample weights.
            return served_window(
                Path(tmp), kinds=kinds, log_root=log, service="bench", meta=("sample_weight",)
            )

        def from_log() -> Any:
            served = window()
            return compare_to_reference(
                profile, served, reference_sample=sample, weights=sampled_weights(served)
            )

        seconds, logged = timed(from_log)
        assert logged.current_rows == rows
        assert [f.current_counts for f in logged.features] == [
            f.current_counts for f in report.features
        ]
        results.append((f"drift, from the request log ({rows:,} rows)", seconds))
        seconds, _ = timed(window)
        results.append(("  of which: reading the window (typed Parquet scan)", seconds))
    seconds, _ = timed(lambda: naive_drift(reference, current), repeat=1)
    results.append(("baseline: naive NumPy/SciPy per feature (full KS)", seconds))
    print(f"  drift verdicts: {drifted} of {len(report.features)} features not ok")
    return results


def bench_log_writer(rows: int, per_request: int = 5) -> list[tuple[str, float]]:
    """CPU seconds to log ``rows`` served rows x 50 features: the server's encoding of the
    frames (its sending thread) and the writer process's work (run here in-process)."""
    import io
    import resource

    from parity.monitor.log_layout import LogLayout
    from parity.retrieval.vectors import FeatureStatus, OnlineResponse
    from parity.serve.log_writer import run
    from parity.serve.request_log import layout_frame, request_frame, stamp_positions

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    window = frame(rows, 3, 0.0)
    names = tuple(window.column_names)
    layout = LogLayout(
        "bench", 1, tuple((n, "float64" if n.startswith("f") else "string", 0) for n in names),
        (("user_id", "int64"),), ("bench@v1",), tuple(s.value for s in FeatureStatus),
    )  # fmt: skip
    at = datetime(2026, 11, 24, 9, tzinfo=UTC)
    event = at - timedelta(hours=1)
    vectors = [list(v.values()) for v in window.to_pylist()]
    responses = []
    for start in range(0, rows, per_request):
        values = vectors[start : start + per_request]
        responses.append(
            OnlineResponse(
                names,
                ("user_id",),
                [{"user_id": start + i} for i in range(len(values))],
                values,
                [[FeatureStatus.PRESENT] * 50 for _ in values],
                [[event] * 50 for _ in values],
                at,
            )
        )
    positions = stamp_positions(layout)
    started = cpu()
    frames = [layout_frame(layout, 0)] + [
        request_frame(0, positions, f"r{i}", r, 1.0, None) for i, r in enumerate(responses)
    ]
    encoded = cpu() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = cpu()
        run(Path(tmp), 3600.0, 20_000, io.BytesIO(b"".join(frames)))
        written = cpu() - started
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*.parquet"))
    print(f"  request log: {sum(map(len, frames)) / 1e6:.0f} MB of frames, {size / 1e6:.1f} MB "
          f"of Parquet for {rows:,} rows")  # fmt: skip
    return [
        (f"log: server encodes {rows:,} rows (CPU s)", encoded),
        (f"log: writer builds and writes {rows:,} rows (CPU s)", written),
    ]


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
    parser.add_argument("--log-rows", type=int, default=50_000)
    args = parser.parse_args()
    print(f"monitoring benchmark: {args.rows:,} rows x 50 features; audit of {args.sample:,} keys")
    results = bench_drift(args.rows) + bench_log_writer(args.log_rows)
    for name, seconds in results + bench_audit(args.entities, args.sample):
        print(f"  {name:<56}  {seconds:8.2f} s")


if __name__ == "__main__":
    main()
