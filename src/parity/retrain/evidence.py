"""Monitor results -> trigger evidence: how the monitor plugs into the retraining gate.

The monitor's drift report (per-feature PSI and status), its drift-error links (Spearman
with a significance verdict) and its performance report (metrics per window against the
validation values) become :class:`DriftEvidence` and :class:`PerformanceEvidence`. The
inputs are read by attribute, so this module imports nothing from the monitor.

Example:
    >>> from types import SimpleNamespace as NS
    >>> report = NS(features=(NS(feature="amount", psi=0.3, status="warn"),), dataset="w1")
    >>> drift_evidence(report).features[0].drifted
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from parity.retrain.triggers import DriftEvidence, FeatureDrift, PerformanceEvidence

_DRIFTED = {"warn", "critical"}


def drift_evidence(report: Any, links: Iterable[Any] = ()) -> DriftEvidence:
    """From a monitor ``DriftReport`` (+ its ``DriftErrorLink`` per feature, if labels exist).

    A link with a verdict decides harm (``harmful``/``benign``); ``insufficient_data``
    leaves only the correlation, which the policy threshold then judges.
    """
    by_feature = {link.feature: link for link in links}
    features = []
    for f in report.features:
        link = by_feature.get(f.feature)
        verdict = None if link is None else str(getattr(link.verdict, "value", link.verdict))
        features.append(
            FeatureDrift(
                f.feature,
                psi=float(f.psi),
                error_correlation=None if link is None else link.correlation,
                drifted=str(getattr(f.status, "value", f.status)) in _DRIFTED,
                harmful=None if verdict in (None, "insufficient_data") else verdict == "harmful",
            )
        )
    return DriftEvidence(tuple(features), window=str(getattr(report, "dataset", "")))


def performance_evidence(
    report: Any, *, metric: str, min_labelled: int = 1
) -> PerformanceEvidence | None:
    """From a monitor ``PerformanceReport``: the newest window with a value for ``metric``
    and at least ``min_labelled`` labelled predictions.

    None when no window has enough labels yet (labels not arrived: no evidence, no decision).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> w = NS(metrics={"roc_auc": 0.8}, labeled=500, start="a", end="b")
        >>> performance_evidence(NS(validation={"roc_auc": 0.9}, windows=(w,)),
        ...                      metric="roc_auc").relative_drop
        0.11...
    """
    validation = report.validation.get(metric)
    if validation is None:
        return None
    for window in reversed(report.windows):
        value = window.metrics.get(metric)
        if value is not None and int(window.labeled) >= min_labelled:
            return PerformanceEvidence(
                metric,
                value=float(value),
                validation_value=float(validation),
                labelled_rows=int(window.labeled),
                window=f"{window.start}/{window.end}",
            )
    return None
