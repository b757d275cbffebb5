"""Model registries: the built-in one (registry database + files) and MLflow.

:data:`MODEL_REGISTRIES` names them by ``retrain.model_registry.type``; a registry's
module (and MLflow) is imported only when one is opened.

Example:
    >>> from parity.retrain.registries.base import CHAMPION
    >>> CHAMPION
    'champion'
    >>> MODEL_REGISTRIES.kinds
    ('builtin', 'mlflow')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from parity.backends import BackendConfig, BackendRegistry
from parity.retrain.registries.config import BuiltinModelRegistryConfig, MlflowModelRegistryConfig

if TYPE_CHECKING:
    from parity.retrain.ledger.transitions import TransitionLog
    from parity.retrain.registries.base import ModelRegistry

__all__ = ["MODEL_REGISTRIES", "ModelRegistryFactory"]


class ModelRegistryFactory(Protocol):
    """How a model registry is opened: its config model, the repository root, the project,
    and the ledger's transition journal (whose database the built-in registry shares).

    Example:
        >>> MODEL_REGISTRIES.factory("builtin").__qualname__
        'BuiltinModelRegistry.open'
    """

    def __call__(
        self,
        config: BackendConfig,
        /,
        *,
        repo_root: str | Path,
        project: str,
        transitions: TransitionLog,
    ) -> ModelRegistry: ...


#: The model registry kinds (``retrain.model_registry.type``).
MODEL_REGISTRIES: BackendRegistry[ModelRegistryFactory] = BackendRegistry(
    "model registry", section="retrain.model_registry"
)
MODEL_REGISTRIES.register(
    "builtin",
    config=BuiltinModelRegistryConfig,
    factory="parity.retrain.registries.builtin:BuiltinModelRegistry.open",
)
MODEL_REGISTRIES.register(
    "mlflow",
    config=MlflowModelRegistryConfig,
    factory="parity.retrain.registries.mlflow:MlflowModelRegistry.open",
)
