"""Typed configuration of each model registry kind (``retrain.model_registry``).

Light on purpose: :data:`parity.retrain.registries.MODEL_REGISTRIES` and the config schema
import these models without importing MLflow.

Example:
    >>> MlflowModelRegistryConfig().experiment
    'parity-retrain'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class BuiltinModelRegistryConfig(BaseModel):
    """Model versions in the registry database, artifacts under ``artifacts_path``.

    Example:
        >>> BuiltinModelRegistryConfig().artifacts_path
        'data/models'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["builtin"] = "builtin"
    artifacts_path: str = "data/models"


class MlflowModelRegistryConfig(BaseModel):
    """MLflow's model registry (``pip install 'parity[mlflow]'``).

    Example:
        >>> MlflowModelRegistryConfig(tracking_uri="sqlite:///mlflow.db").type
        'mlflow'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["mlflow"] = "mlflow"
    tracking_uri: str = "sqlite:///data/mlflow.db"
    artifact_location: str | None = None
    experiment: str = "parity-retrain"
