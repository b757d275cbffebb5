"""Exact window state: it equals the offline engine at every entity's as_of, whatever the
arrival order, redeliveries, expiries and evictions."""

from __future__ import annotations

import math
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from parity import Entity, FeatureView, Field, Int64, ParquetSource
from parity.definitions import Aggregation
from parity.offline.base import ViewReadSpec
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
from parity.stream.state import Applied, EntityWindow, WindowState

T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
SECOND = 1_000_000
USER = Entity("user", join_keys=[Field("user_id", Int64)])
AGGS = [
    Aggregation("v", "count", timedelta(seconds=3), name="c3"),
    Aggregation("v", "sum", timedelta(seconds=5), name="s5"),
    Aggregation("v", "mean", timedelta(seconds=2), name="m2"),
    Aggregation("v", "min", timedelta(seconds=7), name="lo7"),
    Aggregation("v", "max", timedelta(seconds=4), name="hi4"),
    Aggregation("v", "last", timedelta(seconds=6), name="last6"),
    Aggregation("v", "count_distinct", timedelta(seconds=9), name="d9"),
]
VIEW = FeatureView(
    "events",
    entities=[USER],
    source=ParquetSource("events.parquet", timestamp_field="ts"),
    aggregations=AGGS,
)


def close(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    return bool(left == right) and (left is None) == (right is None)


def offline_values(
    events: list[tuple[int, int, float | None]], probes: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as root:
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array([k for k, _, _ in events], pa.int64()),
                    "ts": pa.array([T0 + t * US for _, t, _ in events], pa.timestamp("us", "UTC")),
                    "v": pa.array([v for _, _, v in events], pa.float64()),
                }
            ),
            Path(root) / "events.parquet",
        )
        spec = ViewReadSpec.from_view(VIEW, version=1, repo_root=root)
        entity = pa.table(
            {
                "user_id": pa.array([k for k, _ in probes], pa.int64()),
                "event_timestamp": pa.array(
                    [T0 + t * US for _, t in probes], pa.timestamp("us", "UTC")
                ),
            }
        )
        with DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=root) as engine:
            job = engine.get_historical_features(entity, [spec])
            rows: list[dict[str, Any]] = job.to_arrow().to_pylist()
    return rows


_event = st.tuples(
    st.integers(1, 3),
    st.one_of(st.integers(0, 12).map(lambda s: s * SECOND), st.integers(0, 12 * SECOND)),
    st.one_of(st.none(), st.integers(-50, 50).map(float), st.floats(-1e3, 1e3, allow_nan=False)),
)


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(_event, min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
    expire_at=st.lists(st.integers(0, 25 * SECOND), max_size=4),
)
def test_state_equals_offline_at_as_of_under_any_order_and_redelivery(
    events: list[tuple[int, int, float | None]], seed: int, expire_at: list[int]
) -> None:
    rng = random.Random(seed)
    deliveries = [(n, e) for n, e in enumerate(events)]
    deliveries += rng.sample(deliveries, k=len(deliveries) // 2)  # redeliveries
    rng.shuffle(deliveries)
    state = WindowState(AGGS, allowed_lateness_us=10**12)
    timers = sorted(expire_at)
    for position, (n, (key, t, v)) in enumerate(deliveries):
        if timers and position == len(deliveries) // 2:
            state.due(timers.pop(0))
        state.apply((key,), t, f"e{n}", (v,))
    for at in timers:
        state.due(at)
    state.evict()
    keys = sorted(state.entities)
    probes = [(k[0], state.entities[k].as_of) for k in keys]
    for key, row in zip(keys, offline_values(events, probes), strict=True):
        online = dict(zip([a.name for a in AGGS], state.values(key), strict=True))
        for name, value in online.items():
            assert close(value, row[name]), (key, name, value, row[name])


def test_redelivered_event_counts_once() -> None:
    state = WindowState(AGGS, allowed_lateness_us=0)
    assert state.apply((1,), SECOND, "a", (2.0,)) is Applied.NEW
    assert state.apply((1,), SECOND, "a", (2.0,)) is Applied.DUPLICATE
    assert state.values((1,))[0] == 1


def test_events_later_than_the_allowed_lateness_are_dropped() -> None:
    state = WindowState(AGGS, allowed_lateness_us=2 * SECOND)
    state.apply((1,), 10 * SECOND, "a", (1.0,))
    assert state.apply((1,), 8 * SECOND, "b", (1.0,)) is Applied.NEW  # within lateness
    assert state.apply((2,), 8 * SECOND - 1, "c", (1.0,)) is Applied.LATE
    assert (2,) not in state.entities


def test_an_applied_event_redelivered_after_the_lateness_is_a_duplicate_not_late() -> None:
    # Fails on main: the retry was "late" (dead-lettered as dropped) although it was counted;
    # re-driving the dead letters would have counted it twice.
    state = WindowState(AGGS, allowed_lateness_us=2 * SECOND)
    assert state.apply((1,), 10 * SECOND, "a", (1.0,)) is Applied.NEW
    assert state.apply((1,), 20 * SECOND, "b", (1.0,)) is Applied.NEW
    assert state.apply((1,), 10 * SECOND, "a", (1.0,)) is Applied.DUPLICATE
    assert state.apply((1,), 10 * SECOND, "c", (1.0,)) is Applied.LATE  # a new event is late


def test_expiry_moves_the_value_to_the_instant_an_event_leaves_its_window() -> None:
    state = WindowState([AGGS[0]], allowed_lateness_us=0)
    state.apply((1,), 0, "a", (1.0,))
    state.take_dirty()
    assert state.due(3 * SECOND - 1) == []
    assert state.due(3 * SECOND) == [(1,)]
    assert state.entities[(1,)].as_of == 3 * SECOND and state.values((1,)) == (0,)
    assert state.take_dirty()[0] == [(1,)]


def test_eviction_forgets_emptied_entities_and_keeps_values() -> None:
    state = WindowState(AGGS, allowed_lateness_us=SECOND)
    state.apply((1,), 0, "a", (1.0,))
    state.apply((2,), 0, "b", (1.0,))
    state.apply((2,), 20 * SECOND, "c", (5.0,))
    state.due(24 * SECOND)
    before = state.values((2,))
    assert state.evict() == 2  # both events at 0 are outside every window at as_of
    assert (1,) not in state.entities  # all its windows emptied and its value was written
    assert state.values((2,)) == before and before[1] == 5.0


def test_entity_window_round_trips_through_its_checkpoint_form() -> None:
    window = EntityWindow([1, 2], ["a", "b"], [(1.0,), (None,)], 2, {"a", "b"})
    assert EntityWindow.from_list(window.to_list()) == window


def offline_values_with_retractions(
    events: list[tuple[int, int, float | None, bool]], probes: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """The offline engine's values over events where ``True`` marks a retraction (op "d")."""
    import dataclasses

    with tempfile.TemporaryDirectory() as root:
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array([k for k, _, _, _ in events], pa.int64()),
                    "ts": pa.array(
                        [T0 + t * US for _, t, _, _ in events], pa.timestamp("us", "UTC")
                    ),
                    "v": pa.array([None if d else v for _, _, v, d in events], pa.float64()),
                    "__op": pa.array(["d" if d else None for *_, d in events], pa.string()),
                }
            ),
            Path(root) / "events.parquet",
        )
        spec = ViewReadSpec.from_view(VIEW, version=1, repo_root=root)
        spec = dataclasses.replace(spec, source=dataclasses.replace(spec.source, op_field="__op"))
        entity = pa.table(
            {
                "user_id": pa.array([k for k, _ in probes], pa.int64()),
                "event_timestamp": pa.array(
                    [T0 + t * US for _, t in probes], pa.timestamp("us", "UTC")
                ),
            }
        )
        with DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=root) as engine:
            rows: list[dict[str, Any]] = (
                engine.get_historical_features(entity, [spec]).to_arrow().to_pylist()
            )
    return rows


# Events at even microseconds, retractions at odd ones: a change and a delete of one
# entity never share an instant (a commit is one or the other for a row).
_change = st.tuples(
    st.integers(1, 3),
    st.integers(0, 6 * SECOND).map(lambda t: 2 * t),
    st.one_of(st.none(), st.floats(-1e3, 1e3, allow_nan=False)),
    st.just(False),
)
_retraction = st.tuples(
    st.integers(1, 3),
    st.integers(0, 6 * SECOND).map(lambda t: 2 * t + 1),
    st.none(),
    st.just(True),
)


@settings(max_examples=30, deadline=None)
@given(
    events=st.lists(st.one_of(_change, _change, _retraction), min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
)
def test_retractions_empty_the_windows_online_as_offline(
    events: list[tuple[int, int, float | None, bool]], seed: int
) -> None:
    rng = random.Random(seed)
    deliveries = [(n, e) for n, e in enumerate(events)]
    deliveries += rng.sample(deliveries, k=len(deliveries) // 3)  # redeliveries
    rng.shuffle(deliveries)
    state = WindowState(AGGS, allowed_lateness_us=10**12)
    for n, (key, t, v, retract) in deliveries:
        if retract:
            state.retract((key,), t, f"e{n}")
        else:
            state.apply((key,), t, f"e{n}", (v,))
    keys = sorted(state.entities)
    probes = [(k[0], state.entities[k].as_of) for k in keys]
    for key, row in zip(keys, offline_values_with_retractions(events, probes), strict=True):
        online = dict(zip([a.name for a in AGGS], state.values(key), strict=True))
        for name, value in online.items():
            assert close(value, row[name]), (key, name, value, row[name])


def test_a_retraction_survives_its_checkpoint_and_ignores_redelivered_events() -> None:
    state = WindowState(AGGS, allowed_lateness_us=10**12)
    state.apply((1,), SECOND, "a", (2.0,))
    assert state.retract((1,), 2 * SECOND, "d") is Applied.NEW
    window = EntityWindow.from_list(state.entities[(1,)].to_list())
    restored = WindowState(AGGS, allowed_lateness_us=10**12)
    restored.restore([((1,), window)], state.watermark)
    assert restored.retract((1,), 2 * SECOND, "d") is Applied.DUPLICATE
    assert restored.apply((1,), SECOND, "a", (2.0,)) is Applied.DUPLICATE
    assert restored.values((1,))[0] == 0


FIXED = [
    Aggregation.tumbling("v", "sum", timedelta(seconds=3), name="sum_t3"),
    Aggregation.hopping("v", "count", timedelta(seconds=4), hop=timedelta(seconds=2), name="c_h4"),
    Aggregation.hopping("v", "last", timedelta(seconds=6), hop=timedelta(seconds=2), name="l_h6"),
    Aggregation.tumbling("v", "max", timedelta(seconds=2), name="max_t2"),
    Aggregation("v", "mean", timedelta(seconds=5), name="m5"),
]
FIXED_VIEW = FeatureView(
    "fixed",
    entities=[USER],
    source=ParquetSource("events.parquet", timestamp_field="ts"),
    aggregations=FIXED,
)


def naive_value(
    agg: Aggregation, events: list[tuple[int, int, float | None]], key: int, at: int
) -> Any:
    """The definition, literally: the window [k*hop, k*hop + window) that ended last at or
    before ``at`` (a sliding window: (at - window, at])."""
    if agg.hop_us is None:
        lo, hi = at - agg.window_us + 1, at + 1
    else:
        hi = (at // agg.hop_us) * agg.hop_us
        lo = hi - agg.window_us
    items = sorted((t, v) for k, t, v in events if k == key and lo <= t < hi and v is not None)
    values = [v for _, v in items]
    if agg.function == "count":
        return len(values)
    if not values:
        return None
    if agg.function == "last":
        return max(items)[1]
    return {"sum": math.fsum, "max": max, "mean": lambda x: math.fsum(x) / len(x)}[
        str(agg.function)
    ](values)


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(_event, min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
    expire_at=st.lists(st.integers(0, 25 * SECOND), max_size=4),
)
def test_tumbling_and_hopping_windows_equal_the_offline_engine_and_the_definition(
    events: list[tuple[int, int, float | None]], seed: int, expire_at: list[int]
) -> None:
    rng = random.Random(seed)
    deliveries = [(n, e) for n, e in enumerate(events)]
    deliveries += rng.sample(deliveries, k=len(deliveries) // 2)
    rng.shuffle(deliveries)
    state = WindowState(FIXED, allowed_lateness_us=10**12)
    for n, (key, t, v) in deliveries:
        state.apply((key,), t, f"e{n}", (v,))
    for at in sorted(expire_at):
        state.due(at)
    state.evict()
    keys = sorted(state.entities)
    probes = [(k[0], state.entities[k].as_of) for k in keys]
    with tempfile.TemporaryDirectory() as root:
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array([k for k, _, _ in events], pa.int64()),
                    "ts": pa.array([T0 + t * US for _, t, _ in events], pa.timestamp("us", "UTC")),
                    "v": pa.array([v for _, _, v in events], pa.float64()),
                }
            ),
            Path(root) / "events.parquet",
        )
        spec = ViewReadSpec.from_view(FIXED_VIEW, version=1, repo_root=root)
        entity = pa.table(
            {
                "user_id": pa.array([k for k, _ in probes], pa.int64()),
                "event_timestamp": pa.array(
                    [T0 + t * US for _, t in probes], pa.timestamp("us", "UTC")
                ),
            }
        )
        with DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=root) as engine:
            rows = engine.get_historical_features(entity, [spec]).to_arrow().to_pylist()
    t0_us = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // US
    for (key, at), row in zip(probes, rows, strict=True):
        online = dict(zip([a.name for a in FIXED], state.values((key,)), strict=True))
        for agg in FIXED:
            # Windows align to the epoch: the oracle works in absolute microseconds.
            shifted = [(k, t + t0_us, v) for k, t, v in events]
            expected = naive_value(agg, shifted, key, at + t0_us)
            assert close(online[agg.name], expected), (key, agg.name, online[agg.name], expected)
            assert close(row[agg.name], expected), (key, agg.name, row[agg.name], expected)
