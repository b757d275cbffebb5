"""Builds the retraining loop's parts for a feature store: ledger, model registry, context.

Example:
    >>> loop = open_loop(store)  # doctest: +SKIP
    >>> loop.registry.versions("fraud_model")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from parity.retrain.alerts import AlertSink, LedgerAlertSink
from parity.retrain.config import BuiltinModelRegistryConfig, RetrainConfig
from parity.retrain.context import Clock, system_clock
from parity.retrain.database import open_engine
from parity.retrain.ledger import Ledger

if TYPE_CHECKING:
    from parity.retrain.registries.base import ModelRegistry
    from parity.store import FeatureStore


def open_model_registry(
    store: FeatureStore, config: RetrainConfig | None = None, *, ledger: Ledger | None = None
) -> ModelRegistry:
    """The model registry the repository's configuration names (built in by default).

    A registry that journals its transitions (MLflow) writes them to ``ledger`` (one is
    opened on the registry database when not given).

    Example:
        >>> open_model_registry(store).versions("fraud_model")  # doctest: +SKIP
    """
    config = config or store.config.retrain
    settings = config.model_registry
    if isinstance(settings, BuiltinModelRegistryConfig):
        from parity.retrain.registries.builtin import BuiltinModelRegistry

        root = Path(settings.artifacts_path)
        return BuiltinModelRegistry(
            open_engine(store.config.registry, repo_root=store.repo_path),
            project=store.project,
            root=root if root.is_absolute() else store.repo_path / root,
        )
    from parity.retrain.registries.mlflow import MlflowModelRegistry

    if ledger is None:
        engine = open_engine(store.config.registry, repo_root=store.repo_path)
        ledger = Ledger(engine, project=store.project)
    return MlflowModelRegistry.open(
        settings, repo_root=store.repo_path, project=store.project, transitions=ledger
    )


@dataclass
class Loop:
    """The retraining loop's collaborators for one store.

    Example:
        >>> open_loop(store).ledger.runs("fraud_model")  # doctest: +SKIP
        []
    """

    store: FeatureStore
    registry: ModelRegistry
    ledger: Ledger
    alerts: AlertSink
    clock: Clock
    config: RetrainConfig

    def close(self) -> None:
        """Release the registry and database connections."""
        self.registry.close()
        self.ledger.engine.dispose()


def open_loop(
    store: FeatureStore,
    *,
    clock: Clock = system_clock,
    alerts: AlertSink | None = None,
    config: RetrainConfig | None = None,
) -> Loop:
    """Ledger, model registry and alert sink for ``store`` (alerts go to the ledger by default)."""
    config = config or store.config.retrain
    ledger = Ledger(
        open_engine(store.config.registry, repo_root=store.repo_path), project=store.project
    )
    return Loop(
        store,
        open_model_registry(store, config, ledger=ledger),
        ledger,
        alerts or LedgerAlertSink(ledger, clock=clock),
        clock,
        config,
    )
