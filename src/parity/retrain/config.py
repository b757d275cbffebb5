"""Typed configuration of the retraining loop: which model registry, and its settings.

The ``retrain:`` section of ``parity.yaml``, read once with the rest of the repository's
configuration (:class:`parity.config.RepoConfig`); the built-in model registry by default.

Example:
    >>> RetrainConfig.model_validate({"model_registry": {"type": "mlflow",
    ...     "tracking_uri": "sqlite:///mlflow.db"}}).model_registry.type
    'mlflow'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from parity.retrain.registries import MODEL_REGISTRIES
from parity.retrain.registries.config import (
    BuiltinModelRegistryConfig,
    MlflowModelRegistryConfig,
)

__all__ = [
    "BuiltinModelRegistryConfig",
    "EvidenceConfig",
    "MlflowModelRegistryConfig",
    "ModelRegistryConfig",
    "RetrainConfig",
]


if TYPE_CHECKING:
    ModelRegistryConfig = BuiltinModelRegistryConfig | MlflowModelRegistryConfig
else:
    # The kinds of MODEL_REGISTRIES (the schema follows the registrations).
    ModelRegistryConfig = MODEL_REGISTRIES.config_union()


class EvidenceConfig(BaseModel):
    """How the scheduler reads the monitor's evidence for each model (``retrain.evidence``).

    Drift is measured on the served values of the newest window; performance and the
    drift-error link on the last ``link_windows`` windows of labelled predictions.

    Example:
        >>> EvidenceConfig(window_seconds=3600).link_windows
        7
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    # False: the scheduler fires on schedules only (no monitor evidence).
    enabled: bool = True
    window_seconds: Annotated[float, Field(gt=0)] = 86_400.0
    link_windows: Annotated[int, Field(ge=3)] = 7
    # A window with fewer labelled predictions is no performance evidence.
    min_labelled_rows: Annotated[int, Field(ge=1)] = 50
    # Windows with both a drift and an error value needed before the link has a verdict.
    min_link_windows: Annotated[int, Field(ge=3)] = 5


class RetrainConfig(BaseModel):
    """The ``retrain:`` section of ``parity.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model_registry: ModelRegistryConfig = Field(default_factory=BuiltinModelRegistryConfig)
    lock_ttl_seconds: float = 3600.0
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
