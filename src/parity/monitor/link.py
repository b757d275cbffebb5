"""The drift-error link: does a feature's drift move with the model's error?

Given, over the same windows, each feature's drift (PSI) and the model's error (for
example ``1 - F1`` from :func:`parity.monitor.performance.error_by_window`),
:func:`drift_error_link` computes per feature the Spearman rank correlation (SciPy) and
its p-value. Drift that rises with the error (correlation at least ``min_correlation``,
p below ``alpha``) is ``harmful``: the retraining gate retrains on it; drift that does not
is ``benign``: it warns only. Fewer than ``min_windows`` paired windows give
``insufficient_data``.

Example:
    >>> links = drift_error_link({"amount": [0.01, 0.05, 0.1, 0.2, 0.3, 0.4]},
    ...                          [0.10, 0.12, 0.15, 0.2, 0.26, 0.3])
    >>> links[0].verdict, links[0].correlation
    (<LinkVerdict.HARMFUL: 'harmful'>, 1.0)
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from parity.monitor.drift import DriftThresholds, as_arrow, compare_to_reference
from parity.monitor.profile import ReferenceProfile

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_THRESHOLDS = DriftThresholds()


class LinkVerdict(enum.StrEnum):
    """Whether one feature's drift explains the model's error."""

    # Drift and error rise together, significantly: retrain.
    HARMFUL = "harmful"
    # No significant positive association: the model copes; warn only.
    BENIGN = "benign"
    # Too few windows with both a drift value and an error value to tell.
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class DriftErrorLink:
    """The association between one feature's drift and the model's error over windows.

    Example:
        >>> DriftErrorLink("x", 3, None, None, LinkVerdict.INSUFFICIENT_DATA).harmful
        False
    """

    feature: str
    windows: int
    correlation: float | None
    p_value: float | None
    verdict: LinkVerdict

    @property
    def harmful(self) -> bool:
        """True when the gate should treat this feature's drift as the cause of error."""
        return self.verdict is LinkVerdict.HARMFUL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "feature": self.feature,
            "windows": self.windows,
            "correlation": self.correlation,
            "p_value": self.p_value,
            "verdict": self.verdict.value,
        }


def drift_error_link(
    drift: Mapping[str, Sequence[float | None]],
    error: Sequence[float | None],
    *,
    min_windows: int = 5,
    min_correlation: float = 0.5,
    alpha: float = 0.05,
) -> tuple[DriftErrorLink, ...]:
    """One :class:`DriftErrorLink` per feature; series are aligned by position (window)."""
    from scipy.stats import spearmanr

    errors = np.array([np.nan if e is None else e for e in error], dtype=np.float64)
    links = []
    for feature, series in drift.items():
        values = np.array([np.nan if v is None else v for v in series], dtype=np.float64)
        if len(values) != len(errors):
            from parity.errors import DefinitionError

            raise DefinitionError(
                f"drift_error_link: feature {feature!r} has {len(values)} windows but the "
                f"error series has {len(errors)}; give both one value per window."
            )
        paired = ~np.isnan(values) & ~np.isnan(errors)
        n = int(paired.sum())
        a, b = values[paired], errors[paired]
        if n < min_windows or np.ptp(a) == 0 or np.ptp(b) == 0:
            links.append(DriftErrorLink(feature, n, None, None, LinkVerdict.INSUFFICIENT_DATA))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = spearmanr(a, b)
        rho, p = float(result.statistic), float(result.pvalue)
        if math.isnan(rho):
            links.append(DriftErrorLink(feature, n, None, None, LinkVerdict.INSUFFICIENT_DATA))
            continue
        harmful = rho >= min_correlation and p < alpha
        verdict = LinkVerdict.HARMFUL if harmful else LinkVerdict.BENIGN
        links.append(DriftErrorLink(feature, n, rho, p, verdict))
    return tuple(links)


def drift_by_window(
    profile: ReferenceProfile,
    served: Any,
    *,
    time_column: str,
    starts: Sequence[datetime],
    window: timedelta,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, list[float | None]]:
    """PSI of every profiled feature in each window ``[start, start + window)``; None for a
    window with fewer than ``thresholds.min_rows`` rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table: pa.Table = as_arrow(served)
    times = table.column(time_column)
    out: dict[str, list[float | None]] = {f.name: [] for f in profile.features}
    for start in starts:  # one iteration per window
        lo = pa.scalar(start, times.type)
        hi = pa.scalar(start + window, times.type)
        part = table.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))
        report = compare_to_reference(profile, part, thresholds=thresholds)
        measured = {f.feature: f.psi for f in report.features}
        for name in out:
            enough = part.num_rows >= thresholds.min_rows and name in measured
            out[name].append(measured[name] if enough else None)
    return out
