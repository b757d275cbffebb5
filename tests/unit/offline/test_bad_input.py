"""Bad input is rejected before any join runs, with messages that name the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parity.definitions import Entity, FeatureView, Field, ParquetSource, PushSource
from parity.errors import DefinitionError, NaiveTimestampError, SchemaMismatch
from parity.offline.base import ViewReadSpec
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
from parity.types import Float64, Int64, String

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def view(path: str = "stats.parquet", **source: object) -> FeatureView:
    return FeatureView(
        "user_stats",
        entities=[Entity("user", join_keys=[Field("user_id", Int64)])],
        schema=[Field("spend", Float64), Field("tier", String)],
        source=ParquetSource(path, timestamp_field="ts", **source),  # type: ignore[arg-type]
        ttl=timedelta(days=1),
    )


UTC_TS = pa.timestamp("us", tz="UTC")


def write_source(path: Path, *, ts_type: pa.DataType = UTC_TS) -> None:
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1], pa.int64()),
                "ts": pa.array([T0]).cast(ts_type),
                "spend": [1.5],
                "tier": ["gold"],
            }
        ),
        path,
    )


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBOfflineEngine:
    return DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=tmp_path)


@pytest.fixture
def spec(tmp_path: Path) -> ViewReadSpec:
    write_source(tmp_path / "stats.parquet")
    return ViewReadSpec.from_view(view(), version=1, repo_root=tmp_path)


def frame(**overrides: object) -> pd.DataFrame:
    data: dict[str, object] = {
        "user_id": pd.Series([1], dtype="int64"),
        "event_timestamp": pd.Series([T0], dtype="datetime64[us, UTC]"),
    }
    data.update(overrides)
    return pd.DataFrame(data)


def test_naive_entity_timestamps_are_an_error_naming_the_column_and_fix(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    naive = frame(event_timestamp=pd.Series([datetime(2026, 1, 1)]))
    with pytest.raises(NaiveTimestampError) as info:
        engine.get_historical_features(naive, [spec])
    message = str(info.value)
    assert "entity_df column 'event_timestamp' is a naive timestamp" in message
    assert "pd.to_datetime(df['event_timestamp'], utc=True)" in message


def test_naive_source_timestamps_are_an_error_naming_the_source(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write_source(tmp_path / "naive.parquet", ts_type=pa.timestamp("us"))
    spec = ViewReadSpec.from_view(view("naive.parquet"), version=1, repo_root=tmp_path)
    with pytest.raises(NaiveTimestampError, match=r"source of view user_stats@v1 .* column 'ts'"):
        engine.get_historical_features(frame(), [spec])


def test_missing_timestamp_column_suggests_the_close_name(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    df = frame().rename(columns={"event_timestamp": "event_timestamps"})
    with pytest.raises(SchemaMismatch, match="Did you mean 'event_timestamps'"):
        engine.get_historical_features(df, [spec])


def test_timestamp_column_of_wrong_type_is_named(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    with pytest.raises(SchemaMismatch, match=r"column 'event_timestamp' has type (large_)?string"):
        engine.get_historical_features(frame(event_timestamp=["2026-01-01"]), [spec])


def test_missing_join_key_names_the_view(engine: DuckDBOfflineEngine, spec: ViewReadSpec) -> None:
    df = frame().rename(columns={"user_id": "userid"})
    with pytest.raises(SchemaMismatch) as info:
        engine.get_historical_features(df, [spec])
    assert "no join key column 'user_id' needed by view user_stats@v1" in str(info.value)
    assert "Did you mean 'userid'" in str(info.value)


def test_wrong_join_key_type_says_how_to_cast(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    with pytest.raises(SchemaMismatch) as info:
        engine.get_historical_features(frame(user_id=["1"]), [spec])
    message = str(info.value)
    assert "join key 'user_id' has type large_string" in message
    assert "declares it int64" in message and ".astype('int64')" in message


def test_narrower_integer_keys_are_accepted(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    out = engine.get_historical_features(
        frame(user_id=pd.Series([1], dtype="int32")), [spec]
    ).to_arrow()
    assert out.column("spend").to_pylist() == [1.5]


def test_missing_source_column_points_at_field_mapping(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write_source(tmp_path / "stats.parquet")
    spec = ViewReadSpec.from_view(
        view(field_mapping={"amount": "spend"}), version=1, repo_root=tmp_path
    )
    with pytest.raises(
        SchemaMismatch, match=r"no column 'amount' for feature 'spend'.*field_mapping"
    ):
        engine.get_historical_features(frame(), [spec])


def test_source_type_that_cannot_be_read_as_declared_is_named(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1], pa.int64()),
                "ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
                "spend": ["1.5"],
                "tier": ["gold"],
            }
        ),
        tmp_path / "stats.parquet",
    )
    spec = ViewReadSpec.from_view(view(), version=1, repo_root=tmp_path)
    with pytest.raises(SchemaMismatch, match=r"column 'spend' .* has type string, which cannot be"):
        engine.get_historical_features(frame(), [spec])


def test_missing_source_path_is_named(engine: DuckDBOfflineEngine, tmp_path: Path) -> None:
    spec = ViewReadSpec.from_view(view("nowhere.parquet"), version=1, repo_root=tmp_path)
    with pytest.raises(SchemaMismatch, match=r"nowhere\.parquet' does not exist"):
        engine.get_historical_features(frame(), [spec])


def test_output_column_clash_suggests_output_names(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    with pytest.raises(
        SchemaMismatch, match=r"'spend' of view user_stats@v1 clashes.*output_names"
    ):
        engine.get_historical_features(frame(spend=[0.0]), [spec])


def test_unknown_point_in_time_mode_suggests_the_close_one(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    with pytest.raises(DefinitionError, match="Did you mean 'available'"):
        engine.get_historical_features(frame(), [spec], point_in_time="availble")  # type: ignore[arg-type]


def test_same_view_twice_is_refused(engine: DuckDBOfflineEngine, spec: ViewReadSpec) -> None:
    with pytest.raises(DefinitionError, match="listed more than once"):
        engine.get_historical_features(frame(), [spec, spec])


def test_from_view_resolves_path_mapping_selection_and_output_names(tmp_path: Path) -> None:
    pushed = FeatureView(
        "user_stats",
        entities=[Entity("user", join_keys=[Field("user_id", Int64)])],
        schema=[Field("spend", Float64), Field("tier", String)],
        source=PushSource(
            "stats_push",
            batch_source=ParquetSource(
                "data/s.parquet",
                timestamp_field="ts",
                field_mapping={"amt": "spend", "uid": "user_id"},
            ),
        ),
    )
    spec = ViewReadSpec.from_view(
        pushed,
        version=4,
        repo_root=tmp_path,
        features=["spend"],
        output_names={"spend": "user_stats__spend"},
    )
    assert spec.source.path == str(tmp_path / "data" / "s.parquet")
    assert spec.join_keys[0].source_column == "uid"
    assert [(f.source_column, f.output_name) for f in spec.features] == [
        ("amt", "user_stats__spend")
    ]
    assert spec.ttl is None and spec.ref == "user_stats@v4"
    assert ViewReadSpec.from_dict(spec.to_dict()) == spec


def test_from_view_rejects_output_names_of_unselected_features(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"names \['tier'\], which are not selected"):
        ViewReadSpec.from_view(
            view(), version=1, repo_root=tmp_path, features=["spend"], output_names={"tier": "t"}
        )


def test_table_version_on_parquet_is_refused(spec: ViewReadSpec) -> None:
    with pytest.raises(DefinitionError, match="applies to Delta tables only"):
        spec.at_table_version(3)


def test_naive_timestamps_from_a_sql_entity_query_are_an_error(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    query = "SELECT 1::BIGINT AS user_id, TIMESTAMP '2026-01-01 00:00:00' AS event_timestamp"
    with pytest.raises(NaiveTimestampError, match="entity_df column 'event_timestamp'"):
        engine.get_historical_features(query, [spec])


def test_naive_timestamps_in_a_parquet_entity_file_are_an_error(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec, tmp_path: Path
) -> None:
    pq.write_table(
        pa.table({"user_id": [1], "event_timestamp": pa.array([datetime(2026, 1, 1)])}),
        tmp_path / "entities.parquet",
    )
    with pytest.raises(NaiveTimestampError, match="is a naive timestamp"):
        engine.get_historical_features(tmp_path / "entities.parquet", [spec])


def test_unsupported_entity_frame_type_is_named(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    with pytest.raises(SchemaMismatch, match="unsupported type dict"):
        engine.get_historical_features({"user_id": [1]}, [spec])  # type: ignore[arg-type]


def test_reserved_row_column_in_entity_frame_is_refused(
    engine: DuckDBOfflineEngine, spec: ViewReadSpec
) -> None:
    with pytest.raises(SchemaMismatch, match="'__parity_row', which parity reserves"):
        engine.get_historical_features(frame(__parity_row=[0]), [spec])


def test_engine_is_a_context_manager(tmp_path: Path, spec: ViewReadSpec) -> None:
    with DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=tmp_path) as opened:
        assert opened.get_historical_features(frame(), [spec]).to_arrow().num_rows == 1
