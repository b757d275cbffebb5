"""Typed configuration of the retraining loop: which model registry, and its settings.

It is meant to be the ``retrain:`` section of ``parity.yaml``; until the repo config
carries it, :func:`retrain_config` reads that section itself and defaults to the built-in
registry.

Example:
    >>> RetrainConfig.model_validate({"model_registry": {"type": "mlflow",
    ...     "tracking_uri": "sqlite:///mlflow.db"}}).model_registry.type
    'mlflow'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class BuiltinModelRegistryConfig(BaseModel):
    """Model versions in the registry database, artifacts under ``artifacts_path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["builtin"] = "builtin"
    artifacts_path: str = "data/models"


class MlflowModelRegistryConfig(BaseModel):
    """MLflow's model registry (``pip install 'parity[mlflow]'``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["mlflow"] = "mlflow"
    tracking_uri: str = "sqlite:///data/mlflow.db"
    artifact_location: str | None = None
    experiment: str = "parity-retrain"


ModelRegistryConfig = Annotated[
    BuiltinModelRegistryConfig | MlflowModelRegistryConfig, Field(discriminator="type")
]


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


def retrain_config(repo_path: Path) -> RetrainConfig:
    """The ``retrain:`` section of the repository's ``parity.yaml`` (defaults if absent).

    Example:
        >>> retrain_config(Path("/nonexistent")).model_registry.type
        'builtin'
    """
    path = repo_path / "parity.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    section = (data or {}).get("retrain") if isinstance(data, dict) else None
    return RetrainConfig.model_validate(section or {})
