"""A folder ParquetSource is checked file by file; times truncate; absent nullable columns.

Each test here failed on main before the fix (issue #13, items 8 and 9): only the first
file's footer was checked, nanosecond entity times were rounded to the microsecond, and a
nullable feature the source did not have yet failed every read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parity.definitions import Entity, FeatureView, Field, ParquetSource
from parity.errors import NaiveTimestampError, SchemaMismatch
from parity.offline.base import ViewReadSpec
from parity.offline.changes import read_source_rows
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
from parity.types import Float64, Int64

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")
USER = Entity("user", join_keys=[Field("user_id", Int64)])


def view(*fields: Field, path: str = "stats") -> FeatureView:
    return FeatureView(
        "user_stats",
        entities=[USER],
        schema=list(fields) or [Field("spend", Float64)],
        source=ParquetSource(path, timestamp_field="ts"),
    )


def write(path: Path, **columns: pa.Array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"user_id": pa.array([1], pa.int64()), "ts": pa.array([T0], UTC_US), **columns}
    pq.write_table(pa.table(data), path)


def entities(*times: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series([1] * len(times), dtype="int64"),
            "event_timestamp": pd.Series(list(times), dtype="datetime64[ns, UTC]"),
        }
    )


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBOfflineEngine:
    return DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=tmp_path)


def test_naive_timestamps_in_a_later_file_are_refused_naming_the_file(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write(tmp_path / "stats" / "a.parquet", spend=pa.array([1.0]))
    later = tmp_path / "stats" / "b.parquet"
    write(later, spend=pa.array([2.0]), ts=pa.array([T0.replace(tzinfo=None)], pa.timestamp("us")))
    spec = ViewReadSpec.from_view(view(), version=1, repo_root=tmp_path)
    with pytest.raises(NaiveTimestampError, match=rf"file {later}\).*'ts' is a naive"):
        engine.get_historical_features(entities(pd.Timestamp(T0)), [spec])
    with pytest.raises(NaiveTimestampError, match="to_datetime"):
        read_source_rows(spec)


def test_float_values_for_an_int64_feature_in_a_later_file_are_refused(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write(tmp_path / "stats" / "a.parquet", visits=pa.array([3], pa.int64()))
    later = tmp_path / "stats" / "b.parquet"
    write(later, visits=pa.array([3.7], pa.float64()))
    spec = ViewReadSpec.from_view(view(Field("visits", Int64)), version=1, repo_root=tmp_path)
    with pytest.raises(SchemaMismatch, match=rf"{later}.*'visits'.*double.*int64 without loss"):
        engine.get_historical_features(entities(pd.Timestamp(T0)), [spec])


def test_nanosecond_entity_times_truncate_so_a_future_row_never_joins(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    # The feature row is at T0 + 1 us; entity rows 1 ns and 1 us - 1 ns before it.
    path = tmp_path / "stats" / "a.parquet"
    write(path, spend=pa.array([5.0]), ts=pa.array([T0 + timedelta(microseconds=1)], UTC_US))
    spec = ViewReadSpec.from_view(view(), version=1, repo_root=tmp_path)
    at = pd.Timestamp(T0 + timedelta(microseconds=1))
    frame = entities(at - pd.Timedelta(1, "ns"), at - pd.Timedelta(999, "ns"), at)
    out = engine.get_historical_features(frame, [spec]).to_arrow()
    assert out.column("spend").to_pylist() == [None, None, 5.0]


def test_the_entity_timestamp_column_comes_back_as_given(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write(tmp_path / "stats" / "a.parquet", spend=pa.array([5.0]))
    spec = ViewReadSpec.from_view(view(), version=1, repo_root=tmp_path)
    at = pd.Timestamp(T0) + pd.Timedelta(7, "ns")
    out = engine.get_historical_features(entities(at), [spec]).to_arrow()
    assert out.schema.field("event_timestamp").type == pa.timestamp("ns", tz="UTC")
    assert out.column("event_timestamp")[0].value == at.value


def test_a_nullable_feature_the_source_does_not_have_yet_reads_null(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write(tmp_path / "stats" / "a.parquet", spend=pa.array([5.0]))
    grown = view(Field("spend", Float64), Field("score", Float64))
    spec = ViewReadSpec.from_view(grown, version=1, repo_root=tmp_path)
    out = engine.get_historical_features(entities(pd.Timestamp(T0)), [spec]).to_arrow()
    assert (out.column("spend").to_pylist(), out.column("score").to_pylist()) == ([5.0], [None])
    assert out.schema.field("score").type == pa.float64()
    rows, _ = read_source_rows(spec)
    assert rows.column("score").to_pylist() == [None]


def test_a_nullable_feature_present_only_in_later_files_reads_null_before(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write(tmp_path / "stats" / "a.parquet", spend=pa.array([5.0]))
    write(
        tmp_path / "stats" / "b.parquet",
        spend=pa.array([6.0]),
        score=pa.array([0.5]),
        user_id=pa.array([2], pa.int64()),
    )
    grown = view(Field("spend", Float64), Field("score", Float64))
    spec = ViewReadSpec.from_view(grown, version=1, repo_root=tmp_path)
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([1, 2], dtype="int64"),
            "event_timestamp": pd.Series([T0, T0], dtype="datetime64[us, UTC]"),
        }
    )
    out = engine.get_historical_features(frame, [spec]).to_arrow()
    assert out.column("score").to_pylist() == [None, 0.5]
    rows, _ = read_source_rows(spec)
    assert sorted(rows.column("score").to_pylist(), key=str) == [0.5, None]


def test_a_required_feature_missing_from_any_file_is_refused(
    engine: DuckDBOfflineEngine, tmp_path: Path
) -> None:
    write(tmp_path / "stats" / "a.parquet", spend=pa.array([5.0]))
    later = tmp_path / "stats" / "b.parquet"
    write(later, other=pa.array([6.0]))
    spec = ViewReadSpec.from_view(
        view(Field("spend", Float64, nullable=False)), version=1, repo_root=tmp_path
    )
    with pytest.raises(SchemaMismatch, match=rf"{later}\) has no column 'spend'.*nullable=True"):
        engine.get_historical_features(entities(pd.Timestamp(T0)), [spec])
