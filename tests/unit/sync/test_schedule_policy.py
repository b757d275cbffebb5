"""The adaptive sync policy: monotone in volatility, bounded, and it meets the freshness
target in a simulation of Poisson changes and random reads (an independent oracle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity.registry.records import SyncRecord
from parity.sync.config import SyncPolicy
from parity.sync.schedule_policy import (
    adaptive_interval,
    decide,
    measure_volatility,
    stale_share,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
targets = st.floats(min_value=1.0, max_value=86_400.0)


@settings(max_examples=200, deadline=None)
@given(rates, rates, targets)
def test_a_more_volatile_view_never_syncs_less_often(a: float, b: float, target: float) -> None:
    low, high = 30.0, 200_000.0
    slow, fast = sorted((a, b))
    kw = {"target": target, "low": low, "high": high, "max_stale": 0.01}
    assert adaptive_interval(fast, **kw) <= adaptive_interval(slow, **kw) + 1e-6


@settings(max_examples=200, deadline=None)
@given(rates, targets, st.floats(1.0, 1e4), st.floats(1.0, 1e5), st.floats(0.001, 0.5))
def test_the_interval_stays_within_its_bounds_and_the_stale_limit(
    rate: float, target: float, low: float, span: float, max_stale: float
) -> None:
    high = low + span
    interval = adaptive_interval(rate, target=target, low=low, high=high, max_stale=max_stale)
    assert low <= interval <= high
    if interval > low:  # at the lower bound the bound wins over the limit (and says so)
        assert stale_share(interval, rate=rate, target=target) <= max_stale + 1e-9


def _simulated_stale_share(rate: float, interval: float, target: float, seed: int) -> float:
    """Reads at uniform instants of many keys with Poisson changes; a read is stale when
    an unsynced change is older than the target."""
    rng = np.random.default_rng(seed)
    reads = 200_000
    age = rng.uniform(0, interval, reads)  # time since the last sync at the read
    window = np.maximum(age - target, 0.0)  # changes in it are unsynced and too old
    return float(np.mean(rng.poisson(rate * window) > 0))


@pytest.mark.parametrize("rate", [1e-5, 1e-4, 1e-3, 1e-2])
def test_the_chosen_interval_meets_the_target_in_a_simulation(rate: float) -> None:
    target, max_stale = 600.0, 0.01
    interval = adaptive_interval(rate, target=target, low=60.0, high=86_400.0, max_stale=max_stale)
    simulated = _simulated_stale_share(rate, interval, target, seed=7)
    assert simulated <= max_stale * 1.1  # sampling error of 200,000 reads is ~2%
    # and it is not needlessly short: twice the interval misses the target.
    if interval < 86_400.0:
        assert _simulated_stale_share(rate, interval * 2, target, seed=8) > max_stale


def _history(written: list[int], every: float) -> list[SyncRecord]:
    return [
        SyncRecord(
            run_id=str(i),
            view="v",
            view_version=1,
            started_at=T0 + timedelta(seconds=i * every),
            finished_at=T0 + timedelta(seconds=i * every + 1),
            outcome="succeeded",
            rows_written=n,
        )
        for i, n in enumerate(written)
    ]


def test_volatility_is_learned_from_rows_written_per_interval() -> None:
    # 1,000 keys; each later run of 600 s rewrote 1 - exp(-rate*600) of them.
    rate = 1e-4
    changed = round(1000 * (1 - np.exp(-rate * 600)))
    found = measure_volatility(_history([1000, changed, changed, changed], 600.0))
    assert found.keys == 1000 and found.runs == 3
    assert found.rate == pytest.approx(rate, rel=0.02)


def test_an_adaptive_decision_explains_itself_and_a_stable_view_waits_longest() -> None:
    policy = SyncPolicy(
        mode="adaptive",
        freshness_target_seconds=600,
        min_interval_seconds=60,
        max_interval_seconds=7200,
    )
    fresh = decide(policy, now=T0, history=[], source="s")
    assert fresh.interval_seconds == 60 and "no measured change rate" in fresh.reason
    stable = decide(policy, now=T0, history=_history([1000, 0, 0], 600.0), source="s")
    assert stable.interval_seconds == 7200 and "(max_interval)" in stable.reason
    busy = decide(policy, now=T0, history=_history([1000, 500, 500], 600.0), source="s")
    assert 600 < busy.interval_seconds < stable.interval_seconds
    assert busy.inputs["expected_stale_share"] <= 0.01
    assert (
        busy.to_dict()["next_due_at"] == (T0 + timedelta(seconds=busy.interval_seconds)).isoformat()
    )


def test_a_fixed_policy_needs_exactly_one_of_interval_and_cron() -> None:
    with pytest.raises(ValueError, match="exactly one of every_seconds or cron"):
        SyncPolicy()
    assert (
        decide(SyncPolicy(cron="*/15 * * * *"), now=T0, history=[], source="s").interval_seconds
        == 900
    )
