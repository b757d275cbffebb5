"""Drift statistics against independent oracles: SciPy on identical inputs, and a
deliberately simple PSI written here (Python loops, no shared code with the library)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp

from parity.monitor.drift import (
    DriftStatus,
    DriftThresholds,
    benjamini_hochberg,
    compare_to_reference,
)
from parity.monitor.profile import profile_table, reference_sample

DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def simple_numeric_counts(values: list[float | None], edges: list[float]) -> list[int]:
    """Right-closed bins with open ends, then a null bin: one comparison at a time."""
    counts = [0] * (len(edges) + 2)
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            counts[-1] += 1
            continue
        position = len(edges)
        for i, edge in enumerate(edges):
            if v <= edge:
                position = i
                break
        counts[position] += 1
    return counts


def simple_categorical_counts(values: list[str | None], categories: list[str]) -> list[int]:
    counts = [0] * (len(categories) + 2)
    for v in values:
        if v is None:
            counts[-1] += 1
        elif v in categories:
            counts[categories.index(v)] += 1
        else:
            counts[-2] += 1
    return counts


def simple_psi(reference: list[int], current: list[int], eps: float = 1e-6) -> float:
    r_total = sum(c + eps for c in reference)
    c_total = sum(c + eps for c in current)
    total = 0.0
    for r, c in zip(reference, current, strict=True):
        rs, cs = (r + eps) / r_total, (c + eps) / c_total
        total += (cs - rs) * math.log(cs / rs)
    return total


def numeric_edges(values: list[float | None]) -> list[float]:
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return []
    return sorted(set(np.quantile(np.array(present), DECILES).tolist()))


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)
numbers = st.lists(st.one_of(finite, st.none(), st.integers(-5, 5).map(float)), max_size=80)


@settings(max_examples=60, deadline=None)
@given(reference=numbers.filter(lambda v: len(v) > 0), current=numbers)
def test_numeric_psi_equals_a_simple_implementation_of_the_same_binning(
    reference: list[float | None], current: list[float | None]
) -> None:
    profile = profile_table(pa.table({"x": pa.array(reference, pa.float64())}))
    edges = numeric_edges(reference)
    assert list(profile.feature("x").edges) == pytest.approx(edges, rel=1e-12, abs=1e-12)
    report = compare_to_reference(
        profile, pa.table({"x": pa.array(current, pa.float64())}), thresholds=DriftThresholds()
    )
    expected_ref = simple_numeric_counts(reference, edges)
    expected_cur = simple_numeric_counts(current, edges)
    drift = report.feature("x")
    assert list(drift.reference_counts) == expected_ref
    assert list(drift.current_counts) == expected_cur
    assert drift.psi == pytest.approx(simple_psi(expected_ref, expected_cur), rel=1e-9, abs=1e-12)


categories = st.lists(st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.none()), max_size=80)


@settings(max_examples=60, deadline=None)
@given(reference=categories.filter(lambda v: len(v) > 0), current=categories)
def test_categorical_psi_and_chi_square_equal_the_oracles(
    reference: list[str | None], current: list[str | None]
) -> None:
    profile = profile_table(pa.table({"c": pa.array(reference, pa.string())}), max_categories=2)
    kept = list(profile.feature("c").categories)
    drift = compare_to_reference(profile, pa.table({"c": pa.array(current, pa.string())})).feature(
        "c"
    )
    ref_counts = simple_categorical_counts(reference, kept)
    cur_counts = simple_categorical_counts(current, kept)
    assert list(drift.current_counts) == cur_counts
    assert drift.psi == pytest.approx(simple_psi(ref_counts, cur_counts), rel=1e-9, abs=1e-12)
    table = np.array([ref_counts, cur_counts], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if sum(cur_counts) == 0:
        assert drift.p_value is None
    elif table.shape[1] == 1:
        assert drift.p_value == 1.0
    else:
        assert drift.p_value == chi2_contingency(table, correction=False).pvalue


@settings(max_examples=40, deadline=None)
@given(
    reference=st.lists(finite, min_size=1, max_size=60),
    current=st.lists(finite, min_size=1, max_size=60),
)
def test_ks_p_value_is_scipys_on_identical_inputs(
    reference: list[float], current: list[float]
) -> None:
    ref = pa.table({"x": pa.array(reference, pa.float64())})
    profile = profile_table(ref)
    drift = compare_to_reference(
        profile,
        pa.table({"x": pa.array(current, pa.float64())}),
        reference_sample=reference_sample(ref, profile),
    ).feature("x")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        expected = ks_2samp(reference, current)
    assert drift.statistic == expected.statistic
    assert drift.p_value == expected.pvalue


def test_js_distance_is_scipys_on_the_binned_counts() -> None:
    rng = np.random.default_rng(3)
    ref = pa.table({"x": rng.normal(size=2000)})
    profile = profile_table(ref)
    drift = compare_to_reference(profile, pa.table({"x": rng.normal(0.3, size=1500)})).feature("x")
    assert drift.js_distance == pytest.approx(
        jensenshannon(drift.reference_counts, drift.current_counts, base=2), rel=1e-12
    )


def simple_bh(p: list[float]) -> list[float]:
    n = len(p)
    order = sorted(range(n), key=lambda i: p[i])
    adjusted = [0.0] * n
    running = 1.0
    for rank in range(n, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * n / rank)
        adjusted[i] = running
    return adjusted


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30))
def test_benjamini_hochberg_matches_the_textbook_procedure(p: list[float]) -> None:
    assert benjamini_hochberg(p) == pytest.approx(simple_bh(p), abs=1e-12)


def test_window_below_min_rows_is_insufficient_data_not_a_verdict() -> None:
    profile = profile_table(pa.table({"x": np.arange(1000.0)}))
    report = compare_to_reference(profile, pa.table({"x": np.full(199, 1e9)}))
    assert report.feature("x").status is DriftStatus.INSUFFICIENT_DATA
    assert report.feature("x").psi > 1  # the statistic is still reported
    enough = compare_to_reference(profile, pa.table({"x": np.full(200, 1e9)}))
    assert enough.feature("x").status is DriftStatus.CRITICAL


def test_constant_reference_has_one_edge_and_flags_any_spread() -> None:
    profile = profile_table(pa.table({"x": np.full(500, 7.0)}))
    assert profile.feature("x").edges == (7.0,)
    same = compare_to_reference(profile, pa.table({"x": np.full(300, 7.0)})).feature("x")
    assert same.psi == pytest.approx(0.0, abs=1e-6)  # epsilon on unequal totals
    assert same.status is DriftStatus.OK
    moved = compare_to_reference(profile, pa.table({"x": np.full(300, 8.0)})).feature("x")
    assert moved.status is DriftStatus.CRITICAL


def test_all_null_columns_are_measured_by_the_null_bin() -> None:
    profile = profile_table(pa.table({"x": pa.nulls(300, pa.float64())}))
    feature = profile.feature("x")
    assert feature.edges == () and feature.null_rate == 1.0
    still_null = compare_to_reference(profile, pa.table({"x": pa.nulls(300, pa.float64())}))
    assert still_null.feature("x").psi == pytest.approx(0.0, abs=1e-6)
    assert still_null.feature("x").p_value is None  # nothing for KS to compare
    filled = compare_to_reference(profile, pa.table({"x": np.ones(300)})).feature("x")
    assert filled.status is DriftStatus.CRITICAL and filled.current_null_rate == 0.0


def test_unseen_categories_land_in_other() -> None:
    profile = profile_table(pa.table({"c": ["a"] * 300 + ["b"] * 300}))
    drift = compare_to_reference(profile, pa.table({"c": ["zz"] * 300})).feature("c")
    assert drift.bins == ("a", "b", "other", "null")
    assert list(drift.current_counts) == [0, 0, 300, 0]
    assert drift.status is DriftStatus.CRITICAL


def test_empty_reference_bins_do_not_divide_by_zero() -> None:
    profile = profile_table(pa.table({"c": ["a"] * 400}))
    drift = compare_to_reference(profile, pa.table({"c": ["a"] * 399 + [None]})).feature("c")
    assert math.isfinite(drift.psi) and drift.psi > 0


def test_weights_count_rows_by_their_sampling_weight() -> None:
    profile = profile_table(pa.table({"c": ["a", "b"] * 200}))
    window = pa.table({"c": ["a", "b"], "w": [3.0, 1.0]})
    drift = compare_to_reference(profile, window, weights="w").feature("c")
    assert list(drift.current_counts) == [3, 1, 0, 0]


def test_pandas_and_polars_windows_give_the_arrow_answer() -> None:
    import polars as pl

    rng = np.random.default_rng(5)
    ref = pa.table({"x": rng.normal(size=1000), "c": rng.choice(["a", "b"], 1000)})
    cur = pa.table({"x": rng.normal(0.2, size=800), "c": rng.choice(["a", "b"], 800)})
    profile = profile_table(ref)
    arrow = compare_to_reference(profile, cur).to_dict()
    assert compare_to_reference(profile, cur.to_pandas()).to_dict() == arrow
    assert compare_to_reference(profile, pl.from_arrow(cur)).to_dict() == arrow
