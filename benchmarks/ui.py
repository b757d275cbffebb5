"""Benchmark: the web UI's server time per page and the catalog search, at scale.

Targets (issue #21): every page renders in under 300 ms of server time with 1,000 views
x 5 versions and 100 models in the registry; the catalog search answers in under 100 ms.

The script registers, through the public API, 100 entities and 1,000 feature views, then
applies four breaking changes of every view (5 versions each), 50 services pinning 20
views each, 20 sync runs of one view, and 100 models (2 versions each, champion alias) in
the built-in model registry. It then requests every page (and the JSON search) through
the ASGI application in-process, warm, ``--repeat`` times each, and prints the median and
the 95th percentile. Server time: from the request entering the app to the last byte of
the response (no network, no browser rendering).

Run: ``python benchmarks/ui.py [--views 1000] [--versions 5] [--models 100] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from parity import Entity, FeatureService, FeatureView, Field, Float64, Int64, ParquetSource
from parity.registry import SyncRecord
from parity.store import FeatureStore

PAGE_TARGET_MS = 300.0
SEARCH_TARGET_MS = 100.0


def definitions(views: int, round_: int) -> list[object]:
    entities = [Entity(f"entity_{e}", join_keys=[Field(f"key_{e}", Int64)]) for e in range(100)]
    out: list[object] = list(entities)
    for v in range(views):
        out.append(
            FeatureView(
                f"view_{v}",
                entities=[entities[v % 100]],
                schema=[Field(f"f{v}_{i}", Float64, min_value=0) for i in range(8)],
                source=ParquetSource(f"data/view_{v}.parquet", timestamp_field="event_timestamp"),
                ttl=timedelta(days=1 + round_),  # a new ttl each round: a breaking change
                owner=f"team_{v % 7}@example.com",
                tags={"team": f"team_{v % 7}", "tier": "gold" if v % 10 == 0 else "silver"},
                description=f"view number {v}",
            )
        )
    for s in range(views // 20):
        refs = [f"view_{v}" for v in range(s * 20, s * 20 + 20)]
        out.append(FeatureService(f"service_{s}", features=refs, full_feature_names=True))
    return out


def build(root: Path, *, views: int, versions: int, models: int) -> FeatureStore:
    root.mkdir(parents=True, exist_ok=True)
    (root / "parity.yaml").write_text(
        "project: bench\nregistry: {type: sqlite, path: data/registry.db}\n"
        "online_store: {type: sqlite, path: data/online.db}\n"
        "offline_store: {type: duckdb, path: data/offline}\n"
    )
    store = FeatureStore(root)
    for round_ in range(versions):
        started = time.perf_counter()
        store.apply(definitions(views, round_), message=f"round {round_}")  # type: ignore[arg-type]
        print(f"apply round {round_ + 1}/{versions}: {time.perf_counter() - started:.1f} s")
    now = datetime.now(UTC)
    for i in range(20):
        at = now - timedelta(hours=20 - i)
        store.registry.record_sync(
            "bench",
            SyncRecord(
                f"run{i}", "view_0", versions, at, at + timedelta(seconds=3), "succeeded",
                watermark=at, rows_read=1000, rows_written=990, rows_rejected=10,
                delay_seconds=60.0 + i, details={"rejections": {"f0_0 < 0": 10}, "mode": "range"},
            ),
        )  # fmt: skip
    from parity.retrain.registries.base import ModelLineage
    from parity.retrain.wiring import open_model_registry

    registry = open_model_registry(store)
    for m in range(models):
        for version in (1, 2):
            lineage = ModelLineage(
                feature_service=f"service_{m % (views // 20)}@v1",
                service_pins=(),
                training_dataset=f"model_{m}__run{version}",
                metrics={"roc_auc": 0.8 + version / 100},
                code_fingerprint="bench",
                run_id=f"run{version}",
                feature_names=("f",),
            )
            registry.register(f"model_{m}", {"w": version}, lineage=lineage)
        registry.promote(f"model_{m}", 2)
    registry.close()
    return store


def measure(client: object, path: str, repeat: int) -> tuple[float, float, int]:
    times = []
    status = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    from parity.serve.ui_app import create_ui_app

    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp) / "bench", views=args.views, versions=args.versions,
                      models=args.models)  # fmt: skip
        v = args.versions
        pages = [
            ("catalog (all, first 500 rows)", "/ui/catalog"),
            ("catalog search page", "/ui/catalog?q=owner:team_3+tag:tier=gold"),
            ("object: view, 5 versions + diff", f"/ui/objects/feature_view/view_7?old=1&new={v}"),
            ("object: service", "/ui/objects/feature_service/service_3"),
            ("audit log", "/ui/audit"),
            ("lineage (large: deployments)", "/ui/lineage"),
            ("lineage focus: model", "/ui/lineage?node=model%3Amodel_7%40v2"),
            ("freshness index", "/ui/health"),
            ("view version health", f"/ui/views/view_0@v{v}/health"),
            ("drift & performance", "/ui/drift"),
            ("models", "/ui/models"),
            ("model", "/ui/models/model_7"),
            ("quarantine", "/ui/quarantine"),
        ]
        searches = [
            ("search: name", "/api/catalog?q=view_12"),
            ("search: owner + tag", "/api/catalog?q=owner:team_3+tag:tier=gold"),
            ("search: feature", "/api/catalog?q=feature:f123_4"),
            ("search: no match", "/api/catalog?q=nothing_matches_this"),
        ]
        app = create_ui_app(store, local_admin=True)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        rows = []
        with TestClient(app) as client:
            for label, path in pages + searches:
                client.get(path)  # warm: imports, templates, first connection
                median, p95, status = measure(client, path, args.repeat)
                target = SEARCH_TARGET_MS if path.startswith("/api/catalog") else PAGE_TARGET_MS
                rows.append((label, median, p95, status, target))
            # The first page after a registry write re-reads the snapshot (every version's
            # definition): time it too, a write before each request.
            cold = []
            for i in range(args.repeat):
                store.promote(f"view_{100 + i}@v1", message="bench", force=True)
                started = time.perf_counter()
                client.get("/ui/catalog?q=owner:team_3")
                cold.append((time.perf_counter() - started) * 1000)
            cold.sort()
            p95 = cold[min(len(cold) - 1, round(0.95 * (len(cold) - 1)))]
            rows.append(
                (
                    "search page right after a write",
                    statistics.median(cold),
                    p95,
                    200,
                    PAGE_TARGET_MS,
                )
            )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("\n| page | median ms | p95 ms | target ms | status |")
        print("| --- | ---: | ---: | ---: | --- |")
        for label, median, p95, status, target in rows:
            verdict = "ok" if p95 < target else "OVER"
            print(f"| {label} | {median:.1f} | {p95:.1f} | {target:.0f} ({verdict}) | {status} |")
        store.close()


if __name__ == "__main__":
    main()
