"""A sync run that is blocked or fails reaches a person through the alert routes, and a run
killed mid-publish has recorded the rows it wrote."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import parity as p
from parity.monitor.alerts import AlertDispatcher
from parity.offline.base import ViewReadSpec
from parity.sync.controller import SyncController, SyncSettings

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
MISSING = p.FeatureView(
    "missing",
    entities=[USER],
    schema=[p.Field("spend", p.Float64)],
    source=p.ParquetSource("data/nowhere.parquet", timestamp_field="ts"),
    ttl=timedelta(days=30),
)


def _store(root: Path, users: int = 1) -> p.FeatureStore:
    # A command route that appends every alert it is given to a file: a real process.
    sink = root / "delivered.jsonl"
    argv = [
        sys.executable,
        "-c",
        f"import sys; open({str(sink)!r}, 'a').write(sys.stdin.read() + '\\n')",
    ]
    config = {
        "project": "alerted",
        "monitoring": {"alerts": {"routes": [{"type": "command", "argv": argv}]}},
    }
    (root / "parity.yaml").write_text(json.dumps(config))
    store = p.FeatureStore(root)
    store.apply([USER, VIEW, MISSING], message="test")
    spec = ViewReadSpec.from_view(VIEW, version=1, repo_root=root)
    rows = pa.table(
        {
            "user_id": pa.array(range(users), pa.int64()),
            "spend": pa.array([3.0] * users, pa.float64()),
            "ts": pa.array([T0] * users, TS),
        }
    )
    store.offline_engine.backfill(spec, rows, start=T0, end=T0 + timedelta(days=1))
    return store


def _delivered(root: Path) -> list[dict[str, object]]:
    path = root / "delivered.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_blocked_sync_is_alerted_through_the_routes_and_stored(tmp_path: Path) -> None:
    # Fails on main: the run was recorded blocked and nobody was told.
    with _store(tmp_path) as store:
        [report] = store.materialize(T0, T0 + timedelta(days=1), views=["missing"])
        stored = AlertDispatcher(store.storage.monitoring_root, []).history().to_pylist()
    assert report.outcome.value == "blocked"
    [alert] = _delivered(tmp_path)
    assert (alert["rule"], alert["subject"], alert["severity"]) == (
        "sync_failed",
        "missing@v1",
        "critical",
    )
    assert "nowhere.parquet" in str(alert["summary"]) and "What to do" in str(alert["summary"])
    assert alert["evidence"] == {"run_id": report.run_id, "outcome": "blocked"}
    assert [a["rule"] for a in stored] == ["sync_failed"]


def test_a_repeated_blocked_sync_is_delivered_once_per_dedupe_window(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        for _ in range(3):
            store.materialize(T0, T0 + timedelta(days=1), views=["missing"])
        stored = AlertDispatcher(store.storage.monitoring_root, []).history().to_pylist()
    assert len(_delivered(tmp_path)) == 1
    assert [a["delivery"] for a in stored] == ["sent", "duplicate", "duplicate"]


def test_a_succeeding_sync_raises_no_failure_alert(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        [report] = store.materialize(T0, T0 + timedelta(days=1), views=["spend"])
    assert report.outcome.value == "succeeded"
    assert [a for a in _delivered(tmp_path) if a["rule"] == "sync_failed"] == []


def test_a_run_records_the_rows_written_while_it_publishes(tmp_path: Path) -> None:
    # Fails on main: the record said rows_written 0 until the run ended, so a run killed
    # mid-publish was recorded 'interrupted' with 0 rows written.
    seen: list[tuple[str, int]] = []
    with _store(tmp_path, users=5) as store:
        controller = SyncController(
            project=store.project,
            registry=store.registry,
            engine=store.offline_engine,
            online=store.online_store,
            repo_root=store.repo_path,
            quarantine_root=store.storage.quarantine_root,
            settings=SyncSettings(chunk_rows=1, progress_record_seconds=0),
        )

        def progress(phase: str, done: int, total: int) -> None:
            if phase == "publish" and 0 < done < total:
                [record] = store.registry.sync_records(store.project, "spend", 1, limit=1)
                seen.append((record.outcome, record.rows_written))

        controller.materialize("spend", 1, start=T0, end=T0 + timedelta(days=1), progress=progress)
    assert seen == [("running", 1), ("running", 2), ("running", 3), ("running", 4)]


@pytest.mark.parametrize("seconds", [3600.0])
def test_progress_records_are_throttled(tmp_path: Path, seconds: float) -> None:
    seen: list[int] = []
    with _store(tmp_path, users=5) as store:
        controller = SyncController(
            project=store.project,
            registry=store.registry,
            engine=store.offline_engine,
            online=store.online_store,
            repo_root=store.repo_path,
            quarantine_root=store.storage.quarantine_root,
            settings=SyncSettings(chunk_rows=1, progress_record_seconds=seconds),
        )

        def progress(phase: str, done: int, total: int) -> None:
            if phase == "publish" and 0 < done < total:
                [record] = store.registry.sync_records(store.project, "spend", 1, limit=1)
                seen.append(record.rows_written)

        controller.materialize("spend", 1, start=T0, end=T0 + timedelta(days=1), progress=progress)
    assert seen == [0, 0, 0, 0]
