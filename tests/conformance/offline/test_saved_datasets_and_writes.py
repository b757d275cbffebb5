"""Saved datasets, lineage, Delta appends, backfills, quarantine and time travel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from parity.errors import ChangeRefused, NaiveTimestampError, ObjectNotFound, SchemaMismatch
from parity.offline.base import FeatureColumn, JoinKey, OfflineEngine, SourceSpec, ViewReadSpec
from parity.types import Float64, Int64

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_TS = pa.timestamp("us", tz="UTC")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rows(data: list[tuple[int, float, float]]) -> pa.Table:
    """(user_id, event minute, value); created = event."""
    return pa.table(
        {
            "user_id": pa.array([d[0] for d in data], pa.int64()),
            "ts": pa.array([at(d[1]) for d in data], UTC_TS),
            "created": pa.array([at(d[1]) for d in data], UTC_TS),
            "value": pa.array([d[2] for d in data], pa.float64()),
        }
    )


@pytest.fixture
def spec(tmp_path: Path) -> ViewReadSpec:
    return ViewReadSpec(
        name="scores",
        version=2,
        source=SourceSpec(
            format="delta",
            path=str(tmp_path / "tables" / "scores"),
            timestamp_field="ts",
            created_timestamp_field="created",
        ),
        join_keys=(JoinKey("user_id", Int64),),
        features=(FeatureColumn("value", "score", Float64),),
        ttl=timedelta(hours=1),
    )


def entities(data: list[tuple[int, float]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([d[0] for d in data], pa.int64()),
            "event_timestamp": pa.array([at(d[1]) for d in data], UTC_TS),
        }
    )


def scores(engine: OfflineEngine, spec: ViewReadSpec, frame: pa.Table) -> list[object]:
    return engine.get_historical_features(frame, [spec]).to_arrow().column("score").to_pylist()


def quarantined(engine: OfflineEngine, view: str) -> pd.DataFrame:
    path = Path(engine.offline_path) / "quarantine" / view  # type: ignore[attr-defined]
    return DeltaTable(str(path)).to_pandas()


def test_late_out_of_order_append_lands_where_its_event_time_says(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    first = engine.append(spec, rows([(1, 0, 1.0), (1, 20, 3.0)]))
    late = engine.append(spec, rows([(1, 10, 2.0)]))  # arrives after the row at minute 20
    assert (first.rows_written, late.rows_written) == (2, 1)
    assert late.table_version == first.table_version + 1
    assert scores(engine, spec, entities([(1, 5), (1, 15), (1, 25)])) == [1.0, 2.0, 3.0]


def test_append_quarantines_invalid_rows_with_a_reason_and_writes_the_rest(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    batch = rows([(1, 0, 1.0), (2, 0, 2.0)])
    batch = batch.set_column(0, "user_id", pa.array([1, None], pa.int64()))
    report = engine.append(spec, batch)
    assert (report.rows_written, report.rows_quarantined, report.ok) == (1, 1, False)
    bad = quarantined(engine, "scores")
    assert bad["reason"].tolist() == ["join key user_id is null"]
    assert json.loads(bad["row"].iloc[0])["value"] == 2.0
    assert bad["view_version"].tolist() == [2]


def test_append_with_naive_timestamps_writes_nothing_and_quarantines_all_rows(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    batch = rows([(1, 0, 1.0)])
    batch = batch.set_column(1, "ts", batch.column("ts").cast(pa.timestamp("us")))
    with pytest.raises(NaiveTimestampError, match="column 'ts' is a naive timestamp"):
        engine.append(spec, batch)
    assert not DeltaTable.is_deltatable(spec.source.path)
    assert len(quarantined(engine, "scores")) == 1


def test_backfill_replaces_only_its_range_in_one_commit(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    engine.append(spec, rows([(1, 0, 1.0), (1, 10, 2.0), (1, 20, 3.0)]))
    before = DeltaTable(spec.source.path).version()
    report = engine.backfill(spec, rows([(1, 12, 20.0)]), start=at(5), end=at(20))
    assert report.table_version == before + 1 and report.rows_written == 1
    assert scores(engine, spec, entities([(1, 5), (1, 11), (1, 13), (1, 21)])) == [
        1.0,
        1.0,  # the row at minute 10 was inside the range: replaced
        20.0,
        3.0,  # minute 20 is the exclusive end: kept
    ]


def test_backfill_with_a_row_outside_the_range_changes_nothing(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    engine.append(spec, rows([(1, 10, 2.0)]))
    version = DeltaTable(spec.source.path).version()
    with pytest.raises(SchemaMismatch, match=r"rejected 1 of 2 rows .*ts >= end"):
        engine.backfill(spec, rows([(1, 12, 20.0), (1, 20, 9.0)]), start=at(5), end=at(20))
    assert DeltaTable(spec.source.path).version() == version
    assert scores(engine, spec, entities([(1, 13)])) == [2.0]
    assert quarantined(engine, "scores")["operation"].tolist() == ["backfill"]


def test_backfill_with_wrong_types_changes_nothing(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    engine.append(spec, rows([(1, 10, 2.0)]))
    version = DeltaTable(spec.source.path).version()
    batch = rows([(1, 12, 20.0)])
    batch = batch.set_column(3, "value", pa.array(["20.0"]))
    with pytest.raises(SchemaMismatch, match="column 'value' has type string, expected float64"):
        engine.backfill(spec, batch, start=at(5), end=at(20))
    assert DeltaTable(spec.source.path).version() == version


def test_saved_dataset_has_frame_and_lineage(engine: OfflineEngine, spec: ViewReadSpec) -> None:
    engine.append(spec, rows([(1, 0, 1.0), (2, 0, 5.0)]))
    frame = entities([(1, 5), (2, 5), (1, 5)])
    job = engine.get_historical_features(frame, [spec], point_in_time="available")
    saved = job.save("train_v1")
    loaded = engine.get_saved_dataset("train_v1")
    assert loaded.lineage == saved.lineage
    assert loaded.to_arrow().equals(job.to_arrow())
    lineage = loaded.lineage
    assert lineage.views == (("scores", 2),)
    assert lineage.row_count == 3 and lineage.point_in_time == "available"
    assert lineage.reads[0]["table_version"] == DeltaTable(spec.source.path).version()
    assert lineage.entity_fingerprint.startswith("duckdb-hash:rows=3")
    assert datetime.fromisoformat(lineage.created_at).tzinfo is not None
    assert loaded.entities().equals(frame)
    same_frame = engine.get_historical_features(frame, [spec]).save("train_v1b")
    assert same_frame.lineage.entity_fingerprint == lineage.entity_fingerprint


def test_rebuild_after_append_uses_recorded_table_version(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    engine.append(spec, rows([(1, 0, 1.0)]))
    frame = entities([(1, 5), (1, 30)])
    saved = engine.get_historical_features(frame, [spec]).save("train")
    engine.append(spec, rows([(1, 4, 99.0), (1, 29, 98.0)]))  # later appends, earlier events
    assert scores(engine, spec, frame) == [99.0, 98.0]
    rebuilt = engine.rebuild_saved_dataset("train")  # type: ignore[attr-defined]
    assert rebuilt.to_arrow().equals(saved.to_arrow())
    assert saved.to_arrow().column("score").to_pylist() == [1.0, 1.0]


def test_saved_datasets_are_immutable_and_missing_ones_are_named(
    engine: OfflineEngine, spec: ViewReadSpec
) -> None:
    engine.append(spec, rows([(1, 0, 1.0)]))
    engine.get_historical_features(entities([(1, 5)]), [spec]).save("churn")
    with pytest.raises(ChangeRefused, match="already exists"):
        engine.get_historical_features(entities([(1, 5)]), [spec]).save("churn")
    with pytest.raises(ObjectNotFound, match="Did you mean 'churn'"):
        engine.get_saved_dataset("chrun")
