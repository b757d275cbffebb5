"""Closed-loop retraining: models as code, triggers, the gated pipeline, model registries.

Only light modules are imported here; scikit-learn, scipy, croniter and mlflow load inside
the functions that need them.

Example:
    >>> from parity.retrain import RETRAIN_STEPS
    >>> RETRAIN_STEPS[0].__name__
    'build_training_set'
"""

from __future__ import annotations

from parity.retrain.model import LabelSource, Metric, Model, RetrainPolicy, TimeSplit
from parity.retrain.retraining import ModelStatus, Retraining
from parity.retrain.steps import RETRAIN_STEPS
from parity.retrain.triggers import (
    Action,
    Decision,
    DriftEvidence,
    FeatureDrift,
    PerformanceEvidence,
)

__all__ = [
    "RETRAIN_STEPS",
    "Action",
    "Decision",
    "DriftEvidence",
    "FeatureDrift",
    "LabelSource",
    "Metric",
    "Model",
    "ModelStatus",
    "PerformanceEvidence",
    "RetrainPolicy",
    "Retraining",
    "TimeSplit",
]
