"""Feature drift: a window of served values against a training dataset's reference profile.

Per feature, on the profile's bins (:mod:`parity.monitor.binning`):

- PSI: ``sum((c - r) * ln(c / r))`` over the bins, where ``r`` and ``c`` are the
  reference and current shares after adding ``epsilon`` (1e-6) to every bin's count and
  renormalising, so an empty bin never divides by zero;
- Jensen-Shannon distance (base 2, in [0, 1]) of the raw shares (SciPy);
- numeric features: the two-sample Kolmogorov-Smirnov test (SciPy ``ks_2samp``) between
  the profile's saved reference sample and a fixed random sample of the window (both at
  most ``sample_rows``, so the cost does not grow with the window; on smaller inputs the
  test sees every value);
- categorical features: the chi-square test of homogeneity (SciPy ``chi2_contingency``,
  no continuity correction) on the 2 x bins table of counts, bins empty on both sides
  dropped;
- the p-values of all features are corrected together (Benjamini-Hochberg, SciPy
  ``false_discovery_control``).

A window with fewer than ``min_rows`` rows gets ``insufficient_data``, never a verdict.

Example:
    >>> import pyarrow as pa
    >>> from parity.monitor.profile import profile_table
    >>> profile = profile_table(pa.table({"plan": ["a", "b"] * 500}))
    >>> report = compare_to_reference(profile, pa.table({"plan": ["a"] * 900 + ["b"] * 100}))
    >>> report.status
    <DriftStatus.CRITICAL: 'critical'>
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from parity.monitor.binning import (
    bin_index,
    categorical_labels,
    counts_of_values,
    numeric_labels,
    numeric_values,
)
from parity.monitor.config import DriftThresholds as DriftThresholds
from parity.monitor.profile import FeatureProfile, ReferenceProfile

if TYPE_CHECKING:
    import pyarrow as pa

EPSILON = 1e-6
# Bin counts: a sequence or a NumPy array, one entry per bin.
Counts = Sequence[float] | np.ndarray

# The thresholds a comparison uses when it is given none (the configuration's defaults).
DEFAULT_THRESHOLDS = DriftThresholds()


class DriftStatus(enum.StrEnum):
    """The verdict on one feature (or, as the worst of them, a whole window)."""

    # No statistic crossed a threshold.
    OK = "ok"
    # PSI at or above the warn threshold, or the test significant after correction.
    WARN = "warn"
    # PSI at or above the critical threshold.
    CRITICAL = "critical"
    # Too few rows in the window (or none of the feature's values) to judge.
    INSUFFICIENT_DATA = "insufficient_data"


_ORDER = {
    DriftStatus.OK: 0,
    DriftStatus.INSUFFICIENT_DATA: 1,
    DriftStatus.WARN: 2,
    DriftStatus.CRITICAL: 3,
}


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature: statistics, test, verdict and the binned shares.

    ``test`` is ``ks`` or ``chi2``; ``p_value`` is the test's own, ``p_adjusted`` after
    the Benjamini-Hochberg correction across features (None when the test could not run).

    Example:
        >>> import pyarrow as pa
        >>> from parity.monitor.profile import profile_table
        >>> profile = profile_table(pa.table({"plan": ["a", "b"] * 500}))
        >>> window = pa.table({"plan": ["a"] * 900 + ["b"] * 100})
        >>> drift = compare_to_reference(profile, window).feature("plan")
        >>> round(drift.psi, 3), drift.test
        (0.879, 'chi2')
    """

    feature: str
    kind: str
    status: DriftStatus
    psi: float
    js_distance: float | None
    test: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    reference_rows: int
    current_rows: int
    reference_null_rate: float
    current_null_rate: float
    bins: tuple[str, ...]
    reference_counts: tuple[int, ...]
    current_counts: tuple[float, ...]


@dataclass(frozen=True)
class DriftReport:
    """Every profiled feature of one window; ``status`` is the worst feature's.

    Example:
        >>> import pyarrow as pa
        >>> from parity.monitor.profile import profile_table
        >>> window = pa.table({"plan": ["a", "b"] * 500})
        >>> compare_to_reference(profile_table(window), window).to_dict()["status"]
        'ok'
    """

    dataset: str
    current_rows: int
    thresholds: DriftThresholds
    features: tuple[FeatureDrift, ...]

    @property
    def status(self) -> DriftStatus:
        """The worst feature verdict (OK for no features)."""
        return max(
            (f.status for f in self.features), key=_ORDER.__getitem__, default=DriftStatus.OK
        )

    def feature(self, name: str) -> FeatureDrift:
        """The drift of one feature."""
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dataset": self.dataset,
            "status": self.status.value,
            "current_rows": self.current_rows,
            "thresholds": asdict(self.thresholds),
            "features": [{**asdict(f), "status": f.status.value} for f in self.features],
        }


def smoothed_shares(counts: Counts, *, epsilon: float = EPSILON) -> np.ndarray:
    """Counts plus ``epsilon`` per bin, renormalised to sum to one.

    Example:
        >>> smoothed_shares([1, 0, 1], epsilon=0.0).tolist()
        [0.5, 0.0, 0.5]
    """
    values = np.asarray(counts, dtype=np.float64) + epsilon
    shares: np.ndarray = values / values.sum()
    return shares


def psi(reference_counts: Counts, current_counts: Counts) -> float:
    """Population stability index of two count vectors over the same bins.

    Example:
        >>> round(psi([50, 50], [50, 50]), 6), round(psi([90, 10], [50, 50]), 3)
        (0.0, 0.879)
    """
    r = smoothed_shares(reference_counts)
    c = smoothed_shares(current_counts)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference_counts: Counts, current_counts: Counts) -> float | None:
    """Jensen-Shannon distance (base 2) of the two distributions; None if one is empty.

    Example:
        >>> js_distance([1, 0], [0, 1])
        1.0
    """
    from scipy.spatial.distance import jensenshannon

    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    if r.sum() <= 0 or c.sum() <= 0:
        return None
    return float(jensenshannon(r, c, base=2))


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float | None, float | None]:
    """SciPy's two-sample KS test: ``(statistic, p-value)``, or Nones on an empty side.

    Example:
        >>> ks_test(np.array([1.0, 2.0]), np.array([]))
        (None, None)
    """
    from scipy.stats import ks_2samp

    if len(reference) == 0 or len(current) == 0:
        return None, None
    with warnings.catch_warnings():
        # SciPy falls back from the exact to the asymptotic p-value on some inputs and says
        # so with a warning; the fallback is its documented answer, not a problem of ours.
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        result = ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


def chi2_test(
    reference_counts: Counts, current_counts: Counts
) -> tuple[float | None, float | None]:
    """Chi-square test of homogeneity on a 2 x bins table (bins empty on both sides dropped).

    Example:
        >>> chi2_test([10, 10], [10, 10])
        (0.0, 1.0)
    """
    from scipy.stats import chi2_contingency

    table = np.array([reference_counts, current_counts], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] == 0 or (table.sum(axis=1) == 0).any():
        return None, None
    if table.shape[1] == 1:
        return 0.0, 1.0  # one bin on both sides: identical distributions
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """BH-adjusted p-values (SciPy), Nones kept in place.

    Example:
        >>> benjamini_hochberg([0.01, None, 0.04])
        [0.02, None, 0.04]
    """
    from scipy.stats import false_discovery_control

    present = [p for p in p_values if p is not None]
    if not present:
        return [None] * len(p_values)
    adjusted = iter(false_discovery_control(np.asarray(present, dtype=np.float64), method="bh"))
    return [None if p is None else float(next(adjusted)) for p in p_values]


def _sample(values: np.ndarray, rows: int, seed: int) -> np.ndarray:
    if len(values) <= rows:
        return values
    picked = np.random.default_rng(seed).choice(len(values), rows, replace=False)
    return values[np.sort(picked)]


@dataclass(frozen=True)
class _Measured:
    profile: FeatureProfile
    counts: np.ndarray
    statistic: float | None
    p_value: float | None


def _measure(
    profile: FeatureProfile,
    column: pa.ChunkedArray,
    weights: np.ndarray | None,
    reference_sample: np.ndarray | None,
    thresholds: DriftThresholds,
) -> _Measured:
    values = numeric_values(column) if profile.kind == "numeric" else None
    if weights is not None:
        counts = _weighted_counts(profile, column, weights)
    elif values is not None:
        counts = counts_of_values(values, profile.edges, rows=len(column)).astype(np.float64)
    else:
        counts = profile.bin_counts(column).astype(np.float64)
    if values is not None:
        current = _sample(values, thresholds.sample_rows, thresholds.seed)
        reference = np.array([]) if reference_sample is None else reference_sample
        statistic, p_value = ks_test(reference, current)
    else:
        statistic, p_value = chi2_test(profile.counts, counts)
    return _Measured(profile, counts, statistic, p_value)


def _weighted_counts(
    profile: FeatureProfile, column: pa.ChunkedArray, weights: np.ndarray
) -> np.ndarray:
    """Bin counts where each row counts its sampling weight (the request log's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bins = len(profile.counts)
    if profile.kind == "numeric":
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        missing = np.isnan(values)
        index = bin_index(values, profile.edges).astype(np.int64)
        index[missing] = bins - 1
    else:
        lookup = pa.array(list(profile.categories), pa.string())
        found = pc.index_in(column.cast(pa.string()), value_set=lookup)
        index = found.fill_null(bins - 2).to_numpy(zero_copy_only=False).astype(np.int64)
        index[column.is_null().to_numpy(zero_copy_only=False)] = bins - 1
    return np.bincount(index, weights=weights, minlength=bins).astype(np.float64)


def _verdict(
    measured: _Measured, p_adjusted: float | None, rows: int, thresholds: DriftThresholds
) -> DriftStatus:
    if rows < thresholds.min_rows:
        return DriftStatus.INSUFFICIENT_DATA
    value = psi(measured.profile.counts, measured.counts)
    if value >= thresholds.psi_critical:
        return DriftStatus.CRITICAL
    alpha = thresholds.ks_alpha if measured.profile.kind == "numeric" else thresholds.chi2_alpha
    if value >= thresholds.psi_warn or (p_adjusted is not None and p_adjusted < alpha):
        return DriftStatus.WARN
    return DriftStatus.OK


def compare_to_reference(
    profile: ReferenceProfile,
    current: Any,
    /,
    *,
    reference_sample: pa.Table | None = None,
    weights: str | None = None,
    features: Sequence[str] | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> DriftReport:
    """Drift of every profiled feature present in ``current`` (Arrow, pandas or Polars).

    ``reference_sample``: the numeric values the KS test compares with (the profile's
    saved sample); without it the KS test is skipped. ``weights``: a column of row
    weights (the request log's ``sample_weight``) for the binned statistics.

    Example:
        >>> import pyarrow as pa
        >>> from parity.monitor.profile import profile_table, reference_sample
        >>> served = pa.table({"amount": [float(i % 10) for i in range(1000)]})
        >>> profile = profile_table(served)
        >>> sample = reference_sample(served, profile)
        >>> compare_to_reference(profile, served, reference_sample=sample).status
        <DriftStatus.OK: 'ok'>
    """
    table = as_arrow(current)
    names = [
        f.name
        for f in profile.features
        if f.name in table.column_names and (features is None or f.name in features)
    ]
    weight = None
    if weights is not None:
        weight = table.column(weights).to_numpy(zero_copy_only=False).astype(np.float64)
    measured = []
    for name in names:
        fp = profile.feature(name)
        sample = None
        if reference_sample is not None and name in reference_sample.column_names:
            sample = numeric_values(reference_sample.column(name))
        measured.append(_measure(fp, table.column(name), weight, sample, thresholds))
    adjusted = benjamini_hochberg([m.p_value for m in measured])
    rows = table.num_rows
    results = []
    for m, p_adj in zip(measured, adjusted, strict=True):
        fp = m.profile
        current_total = float(m.counts.sum())
        results.append(
            FeatureDrift(
                feature=fp.name,
                kind=fp.kind,
                status=_verdict(m, p_adj, rows, thresholds),
                psi=psi(fp.counts, m.counts),
                js_distance=js_distance(fp.counts, m.counts),
                test="ks" if fp.kind == "numeric" else "chi2",
                statistic=m.statistic,
                p_value=m.p_value,
                p_adjusted=p_adj,
                reference_rows=fp.count,
                current_rows=rows,
                reference_null_rate=fp.null_rate,
                current_null_rate=float(m.counts[-1] / current_total) if current_total else 0.0,
                bins=numeric_labels(fp.edges)
                if fp.kind == "numeric"
                else categorical_labels(fp.categories),
                reference_counts=fp.counts,
                current_counts=tuple(_plain_number(c) for c in m.counts),
            )
        )
    return DriftReport(profile.dataset, rows, thresholds, tuple(results))


def _plain_number(value: float) -> float:
    return int(value) if float(value).is_integer() else float(value)


def as_arrow(frame: Any) -> pa.Table:
    """An Arrow table from an Arrow table, a pandas or a Polars frame.

    Example:
        >>> import pyarrow as pa
        >>> as_arrow(pa.table({"x": [1]})).num_rows
        1
    """
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # Polars
        table = frame.to_arrow()
        assert isinstance(table, pa.Table)
        return table
    return pa.Table.from_pandas(frame, preserve_index=False)


def drift_thresholds(values: Mapping[str, Any]) -> DriftThresholds:
    """Thresholds from a config mapping (unknown keys are an error).

    Example:
        >>> drift_thresholds({"psi_warn": 0.05}).psi_warn
        0.05
    """
    from parity.errors import ConfigError, did_you_mean

    known = DriftThresholds.__dataclass_fields__
    for key in values:
        if key not in known:
            raise ConfigError(
                f"Unknown drift threshold {key!r}.{did_you_mean(key, known)} "
                f"Known: {', '.join(known)}."
            )
    return DriftThresholds(**values)
