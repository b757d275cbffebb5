"""Point-in-time join rules every offline engine must follow, on small hand-made data."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parity.definitions import DeltaSource, Entity, FeatureView, Field, ParquetSource
from parity.offline.base import OfflineEngine, ViewReadSpec
from parity.types import Float64, Int64, String

if TYPE_CHECKING:
    from tests.conftest import Lake

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_TS = pa.timestamp("us", tz="UTC")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def user_view(path: str, *, ttl: timedelta | None = timedelta(minutes=10), delta: bool = False):
    user = Entity("user", join_keys=[Field("user_id", Int64)])
    source_cls = DeltaSource if delta else ParquetSource
    return FeatureView(
        "user_stats",
        entities=[user],
        schema=[Field("spend", Float64), Field("tier", String)],
        source=source_cls(
            path,
            timestamp_field="ts",
            created_timestamp_field="created",
            field_mapping={"amount": "spend"},
        ),
        ttl=ttl,
    )


def user_rows(rows: list[tuple[int, float, float, float | None, str | None]]) -> pa.Table:
    """(user_id, event minute, created minute, amount, tier)."""
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.int64()),
            "ts": pa.array([at(r[1]) for r in rows], UTC_TS),
            "created": pa.array([at(r[2]) for r in rows], UTC_TS),
            "amount": pa.array([r[3] for r in rows], pa.float64()),
            "tier": pa.array([r[4] for r in rows], pa.string()),
        }
    )


def values(frame: pd.DataFrame, column: str) -> list[object]:
    """A column as Python values, missing ones as None (pandas 3 strings use NaN)."""
    return [None if pd.isna(v) else v for v in frame[column].tolist()]


def entities(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.Series([at(r[1]) for r in rows], dtype="datetime64[us, UTC]"),
            "label": [f"row{i}" for i in range(len(rows))],
        }
    )


@pytest.fixture
def stats_spec(lake: Lake) -> ViewReadSpec:
    lake.write_parquet(
        "stats.parquet",
        user_rows(
            [
                (1, 0, 0, 1.0, "a"),
                (1, 10, 10, 2.0, "b"),
                (1, 10, 12, 3.0, "c"),  # same event time, created later: wins the tie
                (1, 20, 45, 4.0, "d"),  # written 25 minutes after its event time
                (2, 5, 5, None, "z"),  # a null value is a value
            ]
        ),
    )
    return lake.spec(user_view("stats.parquet"), version=1)


def test_latest_row_at_or_before_t_wins_and_created_breaks_ties(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    df = entities([(1, 9.99), (1, 10), (1, 15), (1, 21)])
    out = engine.get_historical_features(df, [stats_spec]).to_pandas()
    assert out["spend"].tolist() == [1.0, 3.0, 3.0, 4.0]
    assert values(out, "tier") == ["a", "c", "c", "d"]


def test_row_exactly_ttl_old_is_in_and_one_microsecond_older_is_out(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    df = entities([(1, 30), (1, 30)])
    df.loc[1, "event_timestamp"] += pd.Timedelta(microseconds=1)
    out = engine.get_historical_features(df, [stats_spec]).to_pandas()
    assert out["spend"].iloc[0] == 4.0
    assert values(out, "spend")[1] is None and values(out, "tier")[1] is None


def test_no_ttl_keeps_old_values(engine: OfflineEngine, lake: Lake) -> None:
    lake.write_parquet("s.parquet", user_rows([(1, 0, 0, 7.0, "x")]))
    spec = lake.spec(user_view("s.parquet", ttl=None), version=1)
    out = engine.get_historical_features(entities([(1, 100_000)]), [spec]).to_pandas()
    assert out["spend"].tolist() == [7.0]


def test_missing_keys_and_rows_before_first_value_get_nulls(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    out = engine.get_historical_features(
        entities([(3, 10), (1, -1), (2, 6)]), [stats_spec]
    ).to_pandas()
    assert out["spend"].isna().all()
    assert values(out, "tier") == [None, None, "z"]


def test_output_keeps_input_order_duplicates_and_every_column(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    df = entities([(1, 21), (2, 6), (1, 9.99), (1, 21), (2, 6)])
    out = engine.get_historical_features(df, [stats_spec]).to_pandas()
    assert out.columns.tolist() == ["user_id", "event_timestamp", "label", "spend", "tier"]
    assert out["label"].tolist() == df["label"].tolist()
    assert out["user_id"].tolist() == [1, 2, 1, 1, 2]
    assert values(out, "tier") == ["d", "z", "a", "d", "z"]
    assert (out["event_timestamp"] == df["event_timestamp"]).all()


def test_available_mode_ignores_rows_created_after_t(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    stats_spec = dataclasses.replace(stats_spec, ttl=None)
    df = entities([(1, 21), (1, 44.9), (1, 45), (1, 11)])
    event = engine.get_historical_features(df, [stats_spec]).to_pandas()
    available = engine.get_historical_features(
        df, [stats_spec], point_in_time="available"
    ).to_pandas()
    assert values(event, "tier") == ["d", "d", "d", "c"]
    # At 21 and 44.9 the row of event time 20 did not exist yet (created at 45); at
    # minute 11 the tie winner (created at 12) did not exist, its rival did.
    assert values(available, "tier") == ["c", "c", "d", "b"]


def test_available_mode_applies_ttl_to_the_visible_row(engine: OfflineEngine, lake: Lake) -> None:
    lake.write_parquet("s.parquet", user_rows([(1, 0, 0, 1.0, "old"), (1, 5, 30, 2.0, "late")]))
    spec = lake.spec(user_view("s.parquet"), version=1)
    out = engine.get_historical_features(
        entities([(1, 10), (1, 11), (1, 30)]), [spec], point_in_time="available"
    ).to_pandas()
    assert values(out, "tier") == ["old", None, None]


def test_several_views_with_different_and_composite_keys(
    engine: OfflineEngine, stats_spec: ViewReadSpec, lake: Lake
) -> None:
    merchant = Entity("merchant", join_keys=[Field("merchant_id", Int64), Field("country", String)])
    lake.write_parquet(
        "merchant.parquet",
        pa.table(
            {
                "merchant_id": pa.array([7, 7, 8], pa.int64()),
                "country": ["DE", "FR", "DE"],
                "ts": pa.array([at(0), at(1), at(2)], UTC_TS),
                "risk": [0.1, 0.2, 0.3],
            }
        ),
    )
    view = FeatureView(
        "merchant_risk",
        entities=[merchant],
        schema=[Field("risk", Float64)],
        source=ParquetSource("merchant.parquet", timestamp_field="ts"),
    )
    risk = lake.spec(view, version=3)
    df = entities([(1, 15), (2, 6), (1, 0)])
    df["merchant_id"] = [7, 7, 8]
    df["country"] = ["FR", "DE", "DE"]
    out = engine.get_historical_features(df, [stats_spec, risk]).to_pandas()
    assert out["spend"].tolist()[0] == 3.0
    assert out["risk"].tolist()[:2] == [0.2, 0.1]
    assert pd.isna(out["risk"].iloc[2])


def test_non_utc_entity_timestamps_are_converted_to_utc(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    df = entities([(1, 15)])
    df["event_timestamp"] = df["event_timestamp"].dt.tz_convert("Asia/Kolkata")
    out = engine.get_historical_features(df, [stats_spec]).to_arrow()
    assert out.schema.field("event_timestamp").type.tz == "UTC"
    assert out.column("event_timestamp").to_pylist() == [at(15)]
    assert out.column("tier").to_pylist() == ["c"]


def test_every_entity_input_kind_gives_the_same_frame(
    engine: OfflineEngine, stats_spec: ViewReadSpec, tmp_path: Path
) -> None:
    df = entities([(1, 21), (2, 6), (1, 11)])
    expected = engine.get_historical_features(df, [stats_spec]).to_arrow()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "entities.parquet")
    inputs = [
        pa.Table.from_pandas(df, preserve_index=False),
        pl.from_pandas(df),
        tmp_path / "entities.parquet",
        str(tmp_path / "entities.parquet"),
    ]
    for entity_input in inputs:
        got = engine.get_historical_features(entity_input, [stats_spec]).to_arrow()
        assert got.equals(expected), type(entity_input)


def test_sql_entity_query_reads_the_view_sources_by_name(
    engine: OfflineEngine, stats_spec: ViewReadSpec
) -> None:
    query = (
        "SELECT user_id, ts AS event_timestamp FROM user_stats WHERE tier IN ('b', 'd') ORDER BY ts"
    )
    out = engine.get_historical_features(query, [stats_spec]).to_pandas()
    assert values(out, "tier") == ["c", "d"]  # at t=10 the tie winner is 'c'


def test_timestamp_column_is_configurable(engine: OfflineEngine, stats_spec: ViewReadSpec) -> None:
    df = entities([(1, 15)]).rename(columns={"event_timestamp": "as_of"})
    out = engine.get_historical_features(df, [stats_spec], timestamp_column="as_of").to_pandas()
    assert values(out, "tier") == ["c"]


def test_results_stream_in_bounded_batches_and_convert(
    engine: OfflineEngine, stats_spec: ViewReadSpec, tmp_path: Path
) -> None:
    df = entities([(1 + i % 2, i % 30) for i in range(2500)])
    job = engine.get_historical_features(df, [stats_spec])
    sizes = [batch.num_rows for batch in job.to_batches()]
    assert sum(sizes) == 2500 and max(sizes) <= 1000 and len(sizes) >= 3
    table = job.to_arrow()
    assert job.to_polars().to_arrow().equals(pl.from_arrow(table).to_arrow())
    assert job.to_pandas()["label"].tolist() == df["label"].tolist()
    written = job.to_parquet(tmp_path / "out" / "frame.parquet")
    assert pq.read_table(written).equals(table)


def test_delta_source_reads_latest_or_pinned_table_version(
    engine: OfflineEngine, lake: Lake
) -> None:
    lake.write_delta("stats", user_rows([(1, 0, 0, 1.0, "v0")]))
    lake.write_delta("stats", user_rows([(1, 5, 5, 2.0, "v1")]), mode="append")
    spec = lake.spec(user_view("stats", delta=True), version=1)
    df = entities([(1, 6)])
    assert values(engine.get_historical_features(df, [spec]).to_pandas(), "tier") == ["v1"]
    old = engine.get_historical_features(df, [spec.at_table_version(0)]).to_pandas()
    assert values(old, "tier") == ["v0"]


def test_times_before_1970_join_like_any_other(engine: OfflineEngine, lake: Lake) -> None:
    old = datetime(1960, 6, 1, tzinfo=UTC)
    lake.write_parquet(
        "old.parquet",
        pa.table(
            {
                "user_id": pa.array([1, 1], pa.int64()),
                "ts": pa.array([old, old], UTC_TS),
                "created": pa.array([old, old + timedelta(seconds=1)], UTC_TS),
                "amount": [1.0, 2.0],
                "tier": ["first", "second"],
            }
        ),
    )
    spec = lake.spec(user_view("old.parquet", ttl=None), version=1)
    df = pd.DataFrame(
        {
            "user_id": [1, 1],
            "event_timestamp": pd.Series(
                [old, old + timedelta(seconds=1)], dtype="datetime64[us, UTC]"
            ),
        }
    )
    event = engine.get_historical_features(df, [spec]).to_pandas()
    available = engine.get_historical_features(df, [spec], point_in_time="available").to_pandas()
    assert values(event, "tier") == ["second", "second"]
    assert values(available, "tier") == ["first", "second"]


def test_parquet_folder_of_several_files_is_one_source(engine: OfflineEngine, lake: Lake) -> None:
    lake.write_parquet("stats/0.parquet", user_rows([(1, 0, 0, 1.0, "a"), (2, 0, 0, 5.0, "x")]))
    lake.write_parquet("stats/1.parquet", user_rows([(1, 5, 5, 2.0, "b"), (1, 5, 6, 3.0, "c")]))
    spec = lake.spec(user_view("stats"), version=1)
    out = engine.get_historical_features(entities([(1, 4), (1, 7), (2, 7)]), [spec]).to_pandas()
    assert values(out, "tier") == ["a", "c", "x"]
    assert values(out, "spend") == [1.0, 3.0, 5.0]


def test_partitioned_delta_table_reads_partition_values(engine: OfflineEngine, lake: Lake) -> None:
    table = user_rows([(1, 0, 0, 1.0, "a"), (1, 5, 5, 2.0, "b"), (2, 1, 1, 3.0, "a")])
    lake.write_delta("stats", table, partition_by=["tier"])
    spec = lake.spec(user_view("stats", delta=True), version=1)
    out = engine.get_historical_features(entities([(1, 3), (1, 6), (2, 6)]), [spec]).to_pandas()
    assert values(out, "tier") == ["a", "b", "a"]
    assert values(out, "spend") == [1.0, 2.0, 3.0]
