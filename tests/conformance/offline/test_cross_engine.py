"""DuckDB and Spark give cell-identical frames, and rebuild each other's saved datasets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from parity.definitions import Aggregation
from parity.errors import SchemaMismatch
from parity.offline.base import FeatureColumn, JoinKey, OfflineEngine, SourceSpec, ViewReadSpec
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
from parity.types import Float64, Int64, String

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def minutes(values: list[int]) -> pa.Array:
    return pa.array([T0 + timedelta(minutes=m) for m in values], TS)


@pytest.fixture
def engines(tmp_path: Path, spark_session: Any) -> Iterator[tuple[OfflineEngine, OfflineEngine]]:
    from parity.offline.spark import SparkOfflineConfig, SparkOfflineEngine

    duck = DuckDBOfflineEngine(DuckDBOfflineConfig(path="offline"), repo_root=tmp_path)
    spark = SparkOfflineEngine(
        SparkOfflineConfig(path="offline", batch_rows=7), repo_root=tmp_path, session=spark_session
    )
    try:
        yield duck, spark
    finally:
        duck.close()
        spark.close()


@pytest.fixture
def specs(tmp_path: Path) -> list[ViewReadSpec]:
    pq.write_table(
        pa.table(
            {
                "uid": pa.array([1, 1, 1, 2, 2, 3], pa.int64()),
                "ts": minutes([0, 10, 10, 5, 30, 1]),
                "created": minutes([0, 10, 12, 40, 30, 1]),
                "amount": [1.5, 2.5, None, 4.0, 5.0, 6.0],
                "tier": ["a", "b", "c", None, "e", "f"],
            }
        ),
        tmp_path / "users.parquet",
    )
    write_deltalake(
        str(tmp_path / "merchants"),
        pa.table(
            {
                "merchant_id": pa.array([7, 7, 8], pa.int64()),
                "country": ["DE", "FR", "DE"],
                "event_ts": minutes([0, 3, 6]),
                "score": pa.array([10, 20, 30], pa.int64()),
            }
        ),
    )
    users = ViewReadSpec(
        "users",
        1,
        SourceSpec("parquet", str(tmp_path / "users.parquet"), "ts", "created"),
        (JoinKey("user_id", Int64, "uid"),),
        (FeatureColumn("amount", "amount", Float64), FeatureColumn("tier", "tier", String)),
        ttl=timedelta(minutes=20),
    )
    merchants = ViewReadSpec(
        "merchants",
        2,
        SourceSpec("delta", str(tmp_path / "merchants"), "event_ts"),
        (JoinKey("merchant_id", Int64), JoinKey("country", String)),
        (FeatureColumn("score", "score", Int64),),
    )
    return [users, merchants]


def entity_frame() -> pa.Table:
    n = 40
    return pa.table(
        {
            "user_id": pa.array([1 + i % 4 for i in range(n)], pa.int64()),
            "merchant_id": pa.array([7 + i % 2 for i in range(n)], pa.int64()),
            "country": ["DE" if i % 3 else "FR" for i in range(n)],
            "event_timestamp": minutes([(i * 7) % 45 for i in range(n)]),
            "label": [f"row{i}" for i in range(n)],
        }
    )


@pytest.mark.parametrize("mode", ["event", "available"])
def test_engines_return_cell_identical_frames(
    engines: tuple[OfflineEngine, OfflineEngine], specs: list[ViewReadSpec], mode: str
) -> None:
    duck, spark = engines
    frame = entity_frame()
    want = duck.get_historical_features(frame, specs, point_in_time=mode).to_arrow()  # type: ignore[arg-type]
    got = spark.get_historical_features(frame, specs, point_in_time=mode).to_arrow()  # type: ignore[arg-type]
    assert got.schema == want.schema
    assert got.equals(want)


def test_aggregations_are_identical_on_both_engines(
    engines: tuple[OfflineEngine, OfflineEngine], tmp_path: Path
) -> None:
    duck, spark = engines
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1, 1, 1, 2, 2], pa.int64()),
                "ts": minutes([0, 5, 5, 1, 9]),
                "v": pa.array([3, None, 4, 7, 7], pa.int64()),
            }
        ),
        tmp_path / "events.parquet",
    )
    window = timedelta(minutes=6)
    aggs = tuple(
        Aggregation("v", f, window, name=f"{f}_6m", dtype="int64")
        for f in ("count", "sum", "mean", "min", "max", "last", "count_distinct")
    )
    spec = ViewReadSpec(
        "events",
        1,
        SourceSpec("parquet", str(tmp_path / "events.parquet"), "ts"),
        (JoinKey("user_id", Int64),),
        tuple(FeatureColumn(a.name, a.name, a.output_dtype) for a in aggs),
        aggregations=aggs,
    )
    frame = entity_frame().select(["user_id", "event_timestamp", "label"])
    want = duck.get_historical_features(frame, [spec]).to_arrow()
    got = spark.get_historical_features(frame, [spec]).to_arrow()
    assert got.equals(want)


def test_spark_dataframe_and_delta_path_entities_match_the_arrow_frame(
    engines: tuple[OfflineEngine, OfflineEngine], specs: list[ViewReadSpec], tmp_path: Path
) -> None:
    _, spark = engines
    frame = entity_frame()
    want = spark.get_historical_features(frame, specs).to_arrow()
    write_deltalake(str(tmp_path / "entity_table"), frame)
    session = spark.session  # type: ignore[attr-defined]
    inputs = [session.createDataFrame(frame), tmp_path / "entity_table"]
    for entity_input in inputs:
        assert spark.get_historical_features(entity_input, specs).to_arrow().equals(want)


@pytest.mark.parametrize("built_on", ["duckdb", "spark"])
def test_dataset_built_on_one_engine_rebuilds_identically_on_the_other(
    engines: tuple[OfflineEngine, OfflineEngine], specs: list[ViewReadSpec], built_on: str
) -> None:
    duck, spark = engines
    builder, rebuilder = (duck, spark) if built_on == "duckdb" else (spark, duck)
    saved = builder.get_historical_features(entity_frame(), specs).save(f"train_{built_on}")
    assert saved.lineage.engine == built_on
    loaded = rebuilder.get_saved_dataset(f"train_{built_on}")
    assert loaded.lineage == saved.lineage
    rebuilt = rebuilder.rebuild_saved_dataset(f"train_{built_on}")  # type: ignore[attr-defined]
    assert rebuilt.to_arrow().equals(saved.to_arrow())
    again = rebuilt.save(f"again_{built_on}")
    assert again.lineage.entity_fingerprint == saved.lineage.entity_fingerprint


def test_a_delta_version_that_does_not_exist_is_named_on_both_engines(
    engines: tuple[OfflineEngine, OfflineEngine], specs: list[ViewReadSpec]
) -> None:
    pinned = specs[1].at_table_version(9)
    for engine in engines:
        with pytest.raises(SchemaMismatch, match=r"has no version 9 .*versions go up to 0"):
            engine.get_historical_features(entity_frame(), [pinned])
