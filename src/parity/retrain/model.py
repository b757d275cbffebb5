"""Models as code: a :class:`Model` names its feature service, labels, trainer and policy.

A model definition lives in the feature repository next to the features it consumes. It
is plain data (frozen dataclasses validated on construction); the training function is
any callable ``(X, y) -> fitted estimator`` with ``predict_proba`` or ``predict``. The
default trainer uses scikit-learn, imported only when it runs.

Example:
    >>> model = Model(
    ...     "fraud_model",
    ...     feature_service="fraud_detection@v1",
    ...     labels=LabelSource("data/transactions.parquet", entity_keys=("user_id", "merchant_id"),
    ...                        label_column="is_fraud"),
    ... )
    >>> model.metric.value, model.policy.min_interval.total_seconds()
    ('roc_auc', 86400.0)
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from parity.errors import DefinitionError

Trainer = Callable[[Any, Any], Any]
"""``trainer(X: pandas.DataFrame, y: numpy.ndarray) -> fitted estimator``."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Metric(enum.StrEnum):
    """The metric a model optimises; all are higher-is-better on predicted scores."""

    # Area under the ROC curve of the positive-class score.
    ROC_AUC = "roc_auc"
    # Average precision (area under the precision-recall curve).
    AVERAGE_PRECISION = "average_precision"
    # Share of correct decisions at a 0.5 threshold.
    ACCURACY = "accuracy"
    # Harmonic mean of precision and recall of the decisions at a 0.5 threshold.
    F1 = "f1"
    # Share of positive decisions (score >= 0.5) that are positive.
    PRECISION = "precision"
    # Share of positives decided positive (score >= 0.5).
    RECALL = "recall"


@dataclass(frozen=True)
class LabelSource:
    """Where labels come from: a Parquet file or Delta folder with keys, time and a label.

    Example:
        >>> LabelSource("data/labels.parquet", entity_keys=("user_id",)).label_column
        'label'
    """

    path: str
    entity_keys: tuple[str, ...]
    label_column: str = "label"
    timestamp_column: str = "event_timestamp"
    # Columns of the label rows the model also uses (known at request time, e.g. the amount).
    request_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_keys", tuple(self.entity_keys))
        object.__setattr__(self, "request_features", tuple(self.request_features))
        if not self.entity_keys:
            raise DefinitionError(
                f"LabelSource {self.path!r}: entity_keys is empty. Name the join keys of the "
                "label rows, e.g. entity_keys=('user_id',)."
            )
        if not self.path:
            raise DefinitionError(
                "LabelSource: path is empty. Give a Parquet file or Delta folder."
            )


@dataclass(frozen=True)
class TimeSplit:
    """Holdout = the newest ``holdout_fraction`` of label rows by event time.

    Example:
        >>> TimeSplit(holdout_fraction=0.25).holdout_fraction
        0.25
    """

    holdout_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise DefinitionError(
                f"TimeSplit: holdout_fraction must be within [0.05, 0.5], got "
                f"{self.holdout_fraction!r}."
            )


@dataclass(frozen=True)
class RetrainPolicy:
    """When to retrain and when to stop.

        ``performance_drop`` triggers a retrain (relative drop against the validation value),
        ``performance_warn`` only alerts. ``min_interval`` rate-limits automatic retraining per
    model (runs a person starts with ``parity retrain run`` neither count nor wait);
        after ``max_unstable_retrains`` retrains in a row that do not bring the metric back
        within ``performance_drop`` of validation, the loop breaker stops and asks a person.

        Example:
            >>> RetrainPolicy(schedule="0 3 * * 1").schedule
            '0 3 * * 1'
    """

    schedule: str | None = None
    performance_drop: float = 0.05
    performance_warn: float = 0.02
    # The monitor's critical PSI (monitoring.drift.psi_critical), so both say the same.
    critical_psi: float = 0.2
    drift_error_correlation: float = 0.3
    key_features: tuple[str, ...] = ()
    min_interval: timedelta = timedelta(hours=24)
    max_unstable_retrains: int = 3
    min_delta: float = 0.0
    floors: Mapping[str, float] = field(default_factory=dict)
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    shadow_min_requests: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_features", tuple(self.key_features))
        object.__setattr__(self, "floors", dict(self.floors))
        if not 0 <= self.performance_warn <= self.performance_drop < 1:
            raise DefinitionError(
                f"RetrainPolicy: need 0 <= performance_warn ({self.performance_warn}) <= "
                f"performance_drop ({self.performance_drop}) < 1."
            )
        if self.max_unstable_retrains < 1:
            raise DefinitionError(
                f"RetrainPolicy: max_unstable_retrains must be >= 1, got "
                f"{self.max_unstable_retrains}."
            )
        if not 0.5 < self.confidence < 1:
            raise DefinitionError(
                f"RetrainPolicy: confidence must be within (0.5, 1), got {self.confidence}."
            )
        if self.schedule is not None:
            from croniter import croniter

            if not croniter.is_valid(self.schedule):
                raise DefinitionError(
                    f"RetrainPolicy: schedule {self.schedule!r} is not a cron expression "
                    "(five fields, e.g. '0 3 * * *' for 03:00 UTC daily)."
                )
        unknown = set(self.floors) - {m.value for m in Metric}
        if unknown:
            raise DefinitionError(
                f"RetrainPolicy: unknown metric floors {sorted(unknown)}; known: "
                f"{[m.value for m in Metric]}."
            )


def _log_scale(values: Any) -> Any:
    """log1p of the non-negative part (module level so fitted pipelines pickle)."""
    import numpy as np

    return np.log1p(np.maximum(values, 0))


def default_trainer(features: Any, labels: Any) -> Any:
    """scikit-learn logistic regression: one-hot strings, log-scaled numbers (imported here).

    Fast to fit and to score one request at a time (the serving path); pass any other
    trainer, e.g. gradient boosting, for more capacity.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"amount": [1.0, 2.0, 30.0, 40.0]})
        >>> estimator = default_trainer(frame, [0, 0, 1, 1])
        >>> estimator.predict(frame).tolist()
        [0, 0, 1, 1]
    """
    from pandas.api.types import is_numeric_dtype
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    # Anything not numeric (object, pandas' str dtype, categories) is one-hot encoded.
    numbers = [c for c in features.columns if is_numeric_dtype(features[c].dtype)]
    text = [c for c in features.columns if c not in numbers]
    encode = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore", sparse_output=False), text),
            (
                "numbers",
                make_pipeline(
                    SimpleImputer(strategy="median"),
                    # Amounts and counts are heavy-tailed: the signal is in their logarithm.
                    FunctionTransformer(_log_scale),
                    StandardScaler(),
                ),
                numbers,
            ),
        ]
    )
    model = LogisticRegression(max_iter=1000)
    return Pipeline([("encode", encode), ("model", model)]).fit(features, labels)


@dataclass(frozen=True)
class Model:
    """A model definition: what it reads, what it predicts, how it trains, when it retrains.

    ``feature_service`` should carry its version (``name@vN``): the model reads exactly the
    view versions that service version pins, in training and in serving.

    Example:
        >>> m = Model("churn", feature_service="churn_features@v2",
        ...           labels=LabelSource("data/churn.parquet", entity_keys=("user_id",)))
        >>> m.name
        'churn'
    """

    name: str
    feature_service: str
    labels: LabelSource
    trainer: Trainer = default_trainer
    metric: Metric = Metric.ROC_AUC
    split: TimeSplit = field(default_factory=TimeSplit)
    policy: RetrainPolicy = field(default_factory=RetrainPolicy)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise DefinitionError(
                f"Model name {self.name!r} is invalid: use letters, digits and underscores."
            )
        object.__setattr__(self, "metric", Metric(self.metric))
        if not callable(self.trainer):
            raise DefinitionError(
                f"Model {self.name!r}: trainer {self.trainer!r} is not callable. Pass a "
                "function (X, y) -> fitted estimator."
            )

    def code_fingerprint(self) -> str:
        """A hash of the trainer's source and the definition's settings (lineage).

        Example:
            >>> len(Model("m", feature_service="s", labels=LabelSource("l", entity_keys=("k",))
            ...           ).code_fingerprint())
            16
        """
        try:
            source = inspect.getsource(self.trainer)
        except (OSError, TypeError):
            source = getattr(self.trainer, "__qualname__", repr(type(self.trainer)))
        settings = repr((self.feature_service, self.labels, self.metric, self.split))
        return hashlib.sha256((source + settings).encode()).hexdigest()[:16]
