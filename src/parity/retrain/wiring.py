"""Builds the retraining loop's parts for a feature store: ledger, model registry, context.

Each takes the :class:`~parity.retrain.features.FeatureAccess` the facade builds
(``store.retraining``), never the facade itself.

Example:
    >>> loop = open_loop(store.retraining)  # doctest: +SKIP
    >>> loop.registry.versions("fraud_model")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from parity.retrain.alerts import AlertSink, LedgerAlertSink, RoutedAlertSink
from parity.retrain.config import RetrainConfig
from parity.retrain.context import Clock, system_clock
from parity.retrain.database import open_engine
from parity.retrain.ledger import Ledger
from parity.retrain.registries import MODEL_REGISTRIES

if TYPE_CHECKING:
    from parity.retrain.features import FeatureAccess
    from parity.retrain.registries.base import ModelRegistry


def open_model_registry(
    features: FeatureAccess, config: RetrainConfig | None = None, *, ledger: Ledger | None = None
) -> ModelRegistry:
    """The model registry the repository's configuration names (built in by default).

    The kind is looked up in :data:`~parity.retrain.registries.MODEL_REGISTRIES`. The
    registry lives in, or journals its transitions to, ``ledger``'s database (one is opened
    on the registry database when not given).

    Example:
        >>> open_model_registry(store.retraining).versions("fraud_model")  # doctest: +SKIP
    """
    config = config or features.retrain
    if ledger is None:
        engine = open_engine(features.registry_config, repo_root=features.repo_root)
        ledger = Ledger(engine, project=features.project)
    settings = config.model_registry
    return MODEL_REGISTRIES.factory(settings.type)(
        settings, repo_root=features.repo_root, project=features.project, transitions=ledger
    )


@dataclass
class Loop:
    """The retraining loop's collaborators for one store.

    Example:
        >>> open_loop(store.retraining).ledger.runs("fraud_model")  # doctest: +SKIP
        []
    """

    features: FeatureAccess
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
    features: FeatureAccess,
    *,
    clock: Clock = system_clock,
    alerts: AlertSink | None = None,
    config: RetrainConfig | None = None,
) -> Loop:
    """Ledger, model registry and alert sink (by default alerts go to the ledger and
    through the monitor's alert routes)."""
    config = config or features.retrain
    ledger = Ledger(
        open_engine(features.registry_config, repo_root=features.repo_root),
        project=features.project,
    )
    return Loop(
        features,
        open_model_registry(features, config, ledger=ledger),
        ledger,
        alerts
        or RoutedAlertSink(
            LedgerAlertSink(ledger, clock=clock),
            features.monitoring.alerts,
            root=features.storage.monitoring_root,
            repo_root=features.repo_root,
            clock=clock,
        ),
        clock,
        config,
    )
