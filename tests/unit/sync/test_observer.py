"""The sync controller tells its observer of every published batch and imports no monitor."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

import parity as p
from parity.offline.base import ViewReadSpec
from parity.sync.controller import SyncController
from parity.sync.observer import NO_OBSERVER, SyncBatch, SyncFailure

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = p.FeatureView(
    "spend",
    entities=[USER],
    schema=[p.Field("spend", p.Float64, nullable=False, min_value=0)],
    source=p.DeltaSource("data/spend", timestamp_field="ts"),
    ttl=timedelta(days=30),
)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[SyncBatch] = []
        self.failures: list[SyncFailure] = []

    def batch_validated(self, batch: SyncBatch, /) -> None:
        self.batches.append(batch)

    def run_failed(self, failure: SyncFailure, /) -> None:
        self.failures.append(failure)


def _store(root: Path) -> p.FeatureStore:
    (root / "parity.yaml").write_text("project: observed\n")
    store = p.FeatureStore(root)
    store.apply([USER, VIEW], message="test")
    spec = ViewReadSpec.from_view(VIEW, version=1, repo_root=root)
    rows = pa.table(
        {
            "user_id": pa.array([1], pa.int64()),
            "spend": pa.array([3.0], pa.float64()),
            "ts": pa.array([T0], TS),
        }
    )
    store.offline_engine.backfill(spec, rows, start=T0, end=T0 + timedelta(days=1))
    return store


def test_every_published_batch_reaches_the_observer_with_its_validation(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        recorder = Recorder()
        controller = SyncController(
            project=store.project,
            registry=store.registry,
            engine=store.offline_engine,
            online=store.online_store,
            repo_root=store.repo_path,
            quarantine_root=store.storage.quarantine_root,
            observer=recorder,
        )
        report = controller.materialize("spend", 1, start=T0, end=T0 + timedelta(days=1))
    [batch] = recorder.batches
    assert (batch.view.name, batch.version, batch.source) == ("spend", 1, "sync")
    assert batch.rows is not None and batch.rows.num_rows == report.rows_read == 1
    assert batch.validation is not None and batch.validation.rejected_count == 0


def test_the_facade_wires_the_monitors_quality_checks_into_the_controller(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        assert store.sync_controller.observer is store.quality_monitor
        assert store.quality_monitor.root == store.storage.monitoring_root


def test_a_controller_without_observer_observes_nothing() -> None:
    NO_OBSERVER.batch_validated(SyncBatch(VIEW, 1, rows=None, validation=None, at=T0))


def test_sync_imports_nothing_of_the_monitor() -> None:
    sync = Path(p.__file__).parent / "sync"
    for path in sync.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            assert not any(n.startswith("parity.monitor") for n in names), path.name
