"""The promotion gate: a paired bootstrap of candidate minus champion on one holdout.

Both models score the same holdout rows. Each bootstrap resample draws row indices with
replacement (``rng.integers(0, n, (B, n))``, the draw ``scipy.stats.bootstrap`` makes) and
computes the metric difference on those rows; the percentile interval of the differences
is the confidence interval. The candidate passes when the interval's lower bound is above
``min_delta`` and every hard floor holds.

Metrics are computed with row weights (a resample is a multiplicity per row), vectorised
over resamples: no Python loop over rows or resamples.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
    >>> float(metric_values("roc_auc", y, s, np.ones((1, 4)))[0])
    0.75
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from parity.retrain.model import Metric

_BATCH = 100  # resamples per vectorised batch: bounds memory at 100 x n floats


def metric_values(
    metric: Metric | str, y: NDArray[Any], score: NDArray[Any], weights: NDArray[Any]
) -> NDArray[np.float64]:
    """The metric under each row of ``weights`` (shape ``(B, n)``), vectorised.

    Example:
        >>> import numpy as np
        >>> metric_values("accuracy", np.array([0, 1]), np.array([0.2, 0.3]), np.ones((1, 2)))
        array([0.5])
    """
    metric = Metric(metric)
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if metric is Metric.ACCURACY:
        correct = (score >= 0.5) == y
        accuracy: NDArray[np.float64] = (weights * correct).sum(axis=1) / weights.sum(axis=1)
        return accuracy
    if metric in (Metric.F1, Metric.PRECISION, Metric.RECALL):
        return _decision_metric(metric, y, score >= 0.5, weights)
    order = np.argsort(-score, kind="stable")  # descending scores
    s, pos, w = score[order], y[order], weights[:, order]
    # Rows with equal scores form one threshold step.
    last_of_tie = np.append(s[1:] != s[:-1], True)
    tp = np.cumsum(w * pos, axis=1)[:, last_of_tie]
    fp = np.cumsum(w * ~pos, axis=1)[:, last_of_tie]
    total_pos, total_neg = tp[:, -1:], fp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric is Metric.ROC_AUC:
            tpr = np.hstack([np.zeros_like(total_pos), tp]) / total_pos
            fpr = np.hstack([np.zeros_like(total_neg), fp]) / total_neg
            return np.asarray(np.trapezoid(tpr, fpr, axis=1), dtype=np.float64)
        precision = tp / (tp + fp)
        recall = np.hstack([np.zeros_like(total_pos), tp]) / total_pos
        return np.asarray((np.diff(recall, axis=1) * precision).sum(axis=1), dtype=np.float64)


def _decision_metric(
    metric: Metric, y: NDArray[Any], decided: NDArray[Any], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    # Undefined ratios (no positive decision, no positive label) are 0, as scikit-learn's
    # zero_division=0: a model that never says yes has no precision.
    tp = (weights * (decided & y)).sum(axis=1)
    fp = (weights * (decided & ~y)).sum(axis=1)
    fn = (weights * (~decided & y)).sum(axis=1)
    numerator, denominator = {
        Metric.F1: (2 * tp, 2 * tp + fp + fn),
        Metric.PRECISION: (tp, tp + fp),
        Metric.RECALL: (tp, tp + fn),
    }[metric]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(denominator > 0, numerator / denominator, 0.0)
    return np.asarray(value, dtype=np.float64)


def resample_indices(n: int, n_resamples: int, seed: int) -> NDArray[np.int64]:
    """The bootstrap draws: row indices with replacement, shape ``(n_resamples, n)``.

    Example:
        >>> resample_indices(5, 3, seed=0).shape
        (3, 5)
    """
    return np.random.default_rng(seed).integers(0, n, (n_resamples, n))


def bootstrap_deltas(
    metric: Metric | str,
    y: NDArray[Any],
    candidate: NDArray[Any],
    champion: NDArray[Any],
    *,
    n_resamples: int,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Candidate minus champion metric on each paired resample.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1] * 20); s = np.linspace(0, 1, 40)
        >>> float(bootstrap_deltas("roc_auc", y, s, s, n_resamples=10).max())
        0.0
    """
    n = len(y)
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_resamples, _BATCH):
        rows = min(_BATCH, n_resamples - start)
        idx = rng.integers(0, n, (rows, n))
        counts = np.zeros((rows, n))
        np.add.at(counts, (np.repeat(np.arange(rows), n), idx.ravel()), 1.0)
        out.append(
            metric_values(metric, y, candidate, counts) - metric_values(metric, y, champion, counts)
        )
    return np.concatenate(out)


@dataclass(frozen=True)
class GateResult:
    """What the gate decided and why (recorded with the run).

    Example:
        >>> GateResult(True, "roc_auc", 0.9, 0.8, 0.1, 0.05, 0.15, 0.0, {}, ()).passed
        True
    """

    passed: bool
    metric: str
    candidate_value: float
    champion_value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    min_delta: float
    floors: Mapping[str, float]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain form for run records."""
        data = asdict(self)
        data["floors"] = dict(self.floors)
        data["reasons"] = list(self.reasons)
        return data


def gate(
    metric: Metric | str,
    y: NDArray[Any],
    candidate: NDArray[Any],
    champion: NDArray[Any] | None,
    *,
    min_delta: float = 0.0,
    floors: Mapping[str, float] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> GateResult:
    """Pass only if the CI lower bound of (candidate - champion) > ``min_delta`` and floors hold.

    Without a champion (the first model) only the floors decide.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1] * 50); good = y * 0.8 + 0.1; bad = np.full(100, 0.5)
        >>> gate("roc_auc", y, good, bad, n_resamples=200).passed
        True
    """
    metric = Metric(metric)
    floors = dict(floors or {})
    ones = np.ones((1, len(y)))
    value = float(metric_values(metric, y, candidate, ones)[0])
    reasons: list[str] = []
    for name, floor in floors.items():
        got = float(metric_values(name, y, candidate, ones)[0])
        if not got >= floor:
            reasons.append(f"{name} {got:.4f} is below its floor {floor:.4f}")
    if champion is None:
        return GateResult(
            not reasons,
            metric.value,
            value,
            None,
            None,
            None,
            None,
            min_delta,
            floors,
            tuple(reasons) or ("no champion: floors only",),
        )
    champion_value = float(metric_values(metric, y, champion, ones)[0])
    deltas = bootstrap_deltas(metric, y, candidate, champion, n_resamples=n_resamples, seed=seed)
    alpha = (1 - confidence) / 2
    low, high = np.percentile(deltas, [alpha * 100, (1 - alpha) * 100])
    if not low > min_delta:
        reasons.append(
            f"{metric.value} CI lower bound {low:+.4f} is not above min_delta {min_delta:+.4f}"
        )
    return GateResult(
        not reasons,
        metric.value,
        value,
        champion_value,
        value - champion_value,
        float(low),
        float(high),
        min_delta,
        floors,
        tuple(reasons) or ("candidate wins",),
    )
