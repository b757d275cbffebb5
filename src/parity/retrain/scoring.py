"""Scoring a model: the positive-class score of each feature vector.

One function shared by the pipeline's evaluation and shadow steps
(:mod:`parity.retrain.steps`) and the model server (:mod:`parity.retrain.serving`), so
neither imports the other for it.

Example:
    >>> import pandas as pd
    >>> from parity.retrain.model import default_trainer
    >>> frame = pd.DataFrame({"amount": [1.0, 30.0]})
    >>> score(default_trainer(frame, [0, 1]), frame).shape
    (2,)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["score"]


def score(estimator: Any, features: pd.DataFrame) -> np.ndarray[Any, Any]:
    """Positive-class scores: ``predict_proba[:, 1]`` when available, else ``predict``.

    Example:
        >>> import pandas as pd
        >>> from parity.retrain.model import default_trainer
        >>> frame = pd.DataFrame({"amount": [1.0, 2.0, 30.0, 40.0]})
        >>> estimator = default_trainer(frame, [0, 0, 1, 1])
        >>> score(estimator, frame).round(2).tolist()
        [0.23, 0.29, 0.71, 0.76]
    """
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(features))[:, 1].astype(np.float64)
    return np.asarray(estimator.predict(features), dtype=np.float64)
