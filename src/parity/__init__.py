"""parity: a feature store with a closed retraining loop.

Features are defined once in Python, versioned in a registry, served online and joined
point-in-time correctly for training, so that training and serving never disagree.

Example:
    >>> import parity
    >>> parity.Int64.name
    'int64'
"""

from __future__ import annotations

from parity.client import Client
from parity.definitions import (
    DeltaSource,
    Entity,
    FeatureSelection,
    FeatureService,
    FeatureView,
    Field,
    FreshnessPolicy,
    MySQLCDCSource,
    ParquetSource,
    PostgresCDCSource,
    PushSource,
)
from parity.definitions.transformation import Aggregation, RowTransform
from parity.errors import (
    ParityError,
    PushIdConflict,
    ServingBlocked,
    TransformFailed,
    TransformUnavailable,
)
from parity.retrain import LabelSource, Model, RetrainPolicy, TimeSplit
from parity.store import FeatureStore
from parity.types import (
    Array,
    Bool,
    Bytes,
    DType,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    Timestamp,
    Vector,
)

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "Array",
    "Bool",
    "Bytes",
    "Client",
    "DType",
    "DeltaSource",
    "Entity",
    "FeatureSelection",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "Float32",
    "Float64",
    "FreshnessPolicy",
    "Int32",
    "Int64",
    "LabelSource",
    "Model",
    "MySQLCDCSource",
    "ParityError",
    "ParquetSource",
    "PostgresCDCSource",
    "PushIdConflict",
    "PushSource",
    "RetrainPolicy",
    "RowTransform",
    "ServingBlocked",
    "String",
    "TimeSplit",
    "Timestamp",
    "TransformFailed",
    "TransformUnavailable",
    "Vector",
    "__version__",
]
