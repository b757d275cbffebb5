"""Property: after any sequence of writes, each online value is the oracle's latest row."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.online import OnlineStore, ReadRequest, ViewTable

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = range(5)
_views = itertools.count()

# (key, event second, created second or None, value)
row_strategy = st.tuples(
    st.sampled_from(KEYS),
    st.integers(0, 4),
    st.none() | st.integers(0, 2),
    st.integers(-3, 3),
)


def _order(row: tuple[int, int, int | None, int]) -> tuple[int, float]:
    # A missing created timestamp orders before any present one.
    return (row[1], -1.0 if row[2] is None else float(row[2]))


def oracle(rows: list[tuple[int, int, int | None, int]]) -> dict[int, list[tuple[Any, ...]]]:
    """Per key, every row that ties for the greatest (event, created)."""
    best: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        current = best.get(row[0])
        if current is None or _order(row) > _order(current[0]):
            best[row[0]] = [row]
        elif _order(row) == _order(current[0]):
            current.append(row)
    return best


def _batch(rows: list[tuple[int, int, int | None, int]]) -> pa.Table:
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "k": pa.array([r[0] for r in rows], pa.int64()),
            "v": pa.array([r[3] for r in rows], pa.int64()),
            "event_timestamp": pa.array([T0 + timedelta(seconds=r[1]) for r in rows], ts),
            "created_timestamp": pa.array(
                [None if r[2] is None else T0 + timedelta(seconds=r[2]) for r in rows], ts
            ),
        }
    )


def _new_view() -> ViewTable:
    return ViewTable.build(
        "prop", f"view_{next(_views)}", 1, join_keys={"k": "int64"}, features={"v": "int64"}
    )


def _apply(store: OnlineStore, view: ViewTable, rows: list[Any], cuts: list[int]) -> int:
    written = 0
    bounds = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        result = store.write(view, _batch(rows[lo:hi]))
        assert result.rows == hi - lo == result.written + result.skipped
        written += result.written
    return written


def _state(store: OnlineStore, view: ViewTable) -> list[tuple[Any, ...] | None]:
    got = store.read([ReadRequest(view, keys=[(k,) for k in KEYS])])[0]
    return [None if r is None else (r.values, r.event_timestamp, r.created_timestamp) for r in got]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_online_value_is_the_latest_row_per_key_whatever_the_write_order(
    store: OnlineStore, rows: list[Any], cuts: list[int], order: Any
) -> None:
    # Fresh views per example; the store fixture removes everything afterwards.
    view = _new_view()
    _apply(store, view, rows, cuts)
    expected = oracle(rows)
    state = _state(store, view)
    for key, got in zip(KEYS, state, strict=True):
        if key not in expected:
            assert got is None
            continue
        assert got is not None
        candidates = expected[key]
        event, created = candidates[0][1], candidates[0][2]
        assert got[1] == T0 + timedelta(seconds=event)
        assert got[2] == (None if created is None else T0 + timedelta(seconds=created))
        assert got[0] in [(c[3],) for c in candidates]

    # The same rows in another order and other batches converge to the same state,
    # and replaying everything writes nothing.
    shuffled = list(rows)
    order.shuffle(shuffled)
    other = _new_view()
    _apply(store, other, shuffled, [len(rows) // 2])
    assert _state(store, other) == state
    assert _apply(store, view, rows, cuts) == 0
    assert _state(store, view) == state
