"""Offline window aggregations equal a naive pure-Python oracle, for any event history.

The rule: the value at ``t`` aggregates the entity's events with event time in
``(t - window, t]``; nulls are ignored; empty windows give 0 for counts, null otherwise;
``last`` takes the newest event, ties on time going to the greatest value.
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity import Entity, FeatureView, Field, Int64, ParquetSource, String
from parity.definitions import Aggregation
from parity.offline.aggregations import aggregates_at
from parity.offline.base import OfflineEngine, ViewReadSpec

T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TS = pa.timestamp("us", tz="UTC")
FUNCTIONS = ("count", "sum", "mean", "min", "max", "last", "count_distinct")


def oracle(events: list[tuple[int, int, Any]], key: int, t_us: int, agg: Aggregation) -> Any:
    """The definition, literally: one pass over every event."""
    window = agg.window_us
    values = [
        (ts, v) for k, ts, v in events if k == key and t_us - window < ts <= t_us and v is not None
    ]
    function = str(agg.function)
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len({v for _, v in values})
    if not values:
        return None
    numbers = [v for _, v in values]
    if function == "sum":
        return sum(numbers) if agg.output_dtype == Int64 else math.fsum(numbers)
    if function == "mean":
        return math.fsum(numbers) / len(numbers)
    if function == "min":
        return min(numbers)
    if function == "max":
        return max(numbers)
    return max(values)[1]  # last: newest time, then greatest value


def close(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    return bool(left == right)


def _view(dtype: str, windows: list[int]) -> FeatureView:
    user = Entity("user", join_keys=[Field("user_id", Int64)])
    aggs = []
    for n, (function, window) in enumerate(zip(FUNCTIONS * 3, windows, strict=False)):
        if dtype == "string" and function in ("sum", "mean"):
            continue
        aggs.append(Aggregation("v", function, window * US, name=f"f{n}", dtype=dtype))
    return FeatureView(
        "events",
        entities=[user],
        source=ParquetSource("events.parquet", timestamp_field="ts"),
        aggregations=aggs,
    )


def _write(path: Path, events: list[tuple[int, int, Any]], dtype: str) -> None:
    arrow = {"float64": pa.float64(), "int64": pa.int64(), "string": pa.string()}[dtype]
    table = pa.table(
        {
            "user_id": pa.array([k for k, _, _ in events], pa.int64()),
            "ts": pa.array([T0 + ts * US for _, ts, _ in events], pa.timestamp("us", tz="UTC")),
            "v": pa.array([v for _, _, v in events], arrow),
        }
    )
    pq.write_table(table, path)


def _values(dtype: str) -> st.SearchStrategy[Any]:
    if dtype == "float64":
        base: st.SearchStrategy[Any] = st.floats(-1e6, 1e6, allow_nan=False).map(
            lambda x: round(x, 3)
        )
    elif dtype == "int64":
        base = st.integers(-1000, 1000)
    else:
        base = st.sampled_from(["a", "b", "c", "dd"])
    return st.one_of(st.none(), base, base, base)


# Times in whole seconds (many exact ties and exact window edges) plus a few microseconds.
_times = st.one_of(st.integers(0, 40).map(lambda s: s * 1_000_000), st.integers(0, 40_000_000))
_windows = st.lists(
    st.one_of(st.integers(1, 20).map(lambda s: s * 1_000_000), st.integers(1, 30_000_000)),
    min_size=7,
    max_size=7,
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, Any]], list[tuple[int, int]]]:
    dtype = draw(st.sampled_from(["float64", "int64", "string"]))
    events = draw(
        st.lists(st.tuples(st.integers(1, 3), _times, _values(dtype)), min_size=1, max_size=40)
    )
    probes = draw(st.lists(st.tuples(st.integers(1, 4), _times), min_size=1, max_size=15))
    return dtype, events, probes


# Examples per engine: a Spark example runs a few Spark jobs (about 2 s on local[2]), so
# Spark checks fewer to keep its share of CI small; DuckDB keeps the full count.
EXAMPLES = {"DuckDBOfflineEngine": 60, "SparkOfflineEngine": 12}


def test_offline_aggregates_equal_the_oracle(engine: OfflineEngine) -> None:
    check = settings(
        max_examples=EXAMPLES[type(engine).__name__],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )(given(**ORACLE_CASES)(offline_aggregates_equal_the_oracle))
    check(engine=engine)


ORACLE_CASES = dict(history=histories(), windows=_windows)


def offline_aggregates_equal_the_oracle(
    engine: OfflineEngine,
    history: tuple[str, list[tuple[int, int, Any]], list[tuple[int, int]]],
    windows: list[int],
) -> None:
    dtype, events, probes = history
    view = _view(dtype, windows)
    with tempfile.TemporaryDirectory() as root:
        _write(Path(root) / "events.parquet", events, dtype)
        spec = ViewReadSpec.from_view(view, version=1, repo_root=root)
        entity = pa.table(
            {
                "user_id": pa.array([k for k, _ in probes], pa.int64()),
                "event_timestamp": pa.array([T0 + t * US for _, t in probes], TS),
                "row": pa.array(range(len(probes)), pa.int64()),
            }
        )
        result = engine.get_historical_features(entity, [spec]).to_arrow().to_pylist()
    assert [r["row"] for r in result] == list(range(len(probes)))
    for (key, t), row in zip(probes, result, strict=True):
        for agg in view.aggregations:
            expected = oracle(events, key, t, agg)
            assert close(row[agg.name], expected), (agg, key, t, row[agg.name], expected)


def test_value_at_the_window_edges(engine: OfflineEngine, tmp_path: Path) -> None:
    view = _view("float64", [10_000_000] * 7)
    _write(tmp_path / "events.parquet", [(1, 0, 1.0), (1, 10_000_000, 2.0)], "float64")
    spec = ViewReadSpec.from_view(view, version=1, repo_root=tmp_path)
    entity = pa.table(
        {
            "user_id": pa.array([1, 1, 1], pa.int64()),
            "event_timestamp": pa.array([T0 - US, T0 + 9_999_999 * US, T0 + 10_000_000 * US], TS),
        }
    )
    counts = engine.get_historical_features(entity, [spec]).to_arrow().column("f0").to_pylist()
    # Before any event: 0; the event at t counts; the event at exactly t - window does not.
    assert counts == [0, 1, 1]


def test_mixed_services_keep_the_canonical_column_order(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    user = Entity("user", join_keys=[Field("user_id", Int64)])
    _write(tmp_path / "events.parquet", [(1, 0, 3.0)], "float64")
    pq.write_table(
        pa.table(
            {"user_id": pa.array([1], pa.int64()), "ts": pa.array([T0], TS), "country": ["FR"]}
        ),
        tmp_path / "profile.parquet",
    )
    profile = FeatureView(
        "profile",
        entities=[user],
        schema=[Field("country", String)],
        source=ParquetSource("profile.parquet", timestamp_field="ts"),
    )
    aggs = FeatureView(
        "events",
        entities=[user],
        source=ParquetSource("events.parquet", timestamp_field="ts"),
        aggregations=[Aggregation("v", "sum", timedelta(hours=1), name="spend_1h")],
    )
    specs = [
        ViewReadSpec.from_view(profile, version=1, repo_root=tmp_path),
        ViewReadSpec.from_view(aggs, version=1, repo_root=tmp_path),
    ]
    entity = pa.table(
        {"user_id": pa.array([1, 2], pa.int64()), "event_timestamp": pa.array([T0, T0], TS)}
    )
    frame = engine.get_historical_features(entity, specs).to_arrow()
    assert frame.column_names == ["user_id", "event_timestamp", "country", "spend_1h"]
    assert frame.column("spend_1h").to_pylist() == [3.0, None]


def test_sync_rows_are_the_aggregates_at_the_sync_instant(tmp_path: Path) -> None:
    view = _view("int64", [5_000_000] * 7)
    _write(tmp_path / "events.parquet", [(1, 0, 4), (1, 4_000_000, 6), (2, 0, 1)], "int64")
    spec = ViewReadSpec.from_view(view, version=1, repo_root=tmp_path)
    rows, _ = aggregates_at(spec, T0 + 5 * timedelta(seconds=1))
    by_key = {r["user_id"]: r for r in rows.to_pylist()}
    assert by_key[1]["f1"] == 6 and by_key[1]["f0"] == 1  # the event at 0 left the window
    assert by_key[2]["f0"] == 0 and by_key[2]["f1"] is None  # emptied windows are published
    assert {r["event_timestamp"] for r in rows.to_pylist()} == {T0 + timedelta(seconds=5)}


def test_point_in_time_available_is_refused_for_aggregation_views(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    view = _view("float64", [1_000_000] * 7)
    _write(tmp_path / "events.parquet", [(1, 0, 1.0)], "float64")
    spec = ViewReadSpec.from_view(view, version=1, repo_root=tmp_path)
    entity = pa.table({"user_id": pa.array([1], pa.int64()), "event_timestamp": pa.array([T0], TS)})
    with pytest.raises(ValueError, match="not supported for aggregation views"):
        engine.get_historical_features(entity, [spec], point_in_time="available")
