"""What the retraining loop needs of the feature store, named one by one.

Retraining builds point-in-time training sets from a model's pinned feature service,
scores live requests with the online features of that service, and reads the monitor's
evidence from the repository's storage. :class:`FeatureAccess` holds exactly those
collaborators: the registry snapshot, the offline engine, a historical and an online
retrieval function, the serving plan of a service, the typed configuration sections the
loop reads, and the storage locations. The facade builds it once
(:attr:`parity.FeatureStore.retraining`); nothing in :mod:`parity.retrain` takes the
facade itself, so the loop's real dependencies are the fields below.

Example:
    >>> loop = open_loop(store.retraining)  # doctest: +SKIP
    >>> loop.features.storage.models_root.name  # doctest: +SKIP
    'models'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from parity.monitor.config import MonitorConfig
    from parity.offline.base import EntityInput, OfflineEngine, RetrievalJob
    from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
    from parity.registry.records import RegistrySnapshot
    from parity.retrain.config import RetrainConfig
    from parity.retrieval.resolve import ServingPlan
    from parity.retrieval.vectors import OnlineResponse
    from parity.storage import StorageLayout

__all__ = ["FeatureAccess", "HistoricalFeatures", "OnlineFeatures", "ServicePlan"]


class HistoricalFeatures(Protocol):
    """A point-in-time join of entity rows with a feature service (a training set).

    Example:
        >>> job = features.historical_features(labels, feature_service="fraud",  # doctest: +SKIP
        ...     timestamp_column="event_timestamp")
    """

    def __call__(
        self,
        entity_df: EntityInput,
        /,
        *,
        feature_service: str,
        timestamp_column: str = "event_timestamp",
    ) -> RetrievalJob:
        """The retrieval job of the join (saved as the run's training set)."""


class OnlineFeatures(Protocol):
    """The latest served values of a feature service for entity rows.

    Example:
        >>> features.online_features(feature_service="fraud",  # doctest: +SKIP
        ...                          entity_rows=[{"user_id": 1}]).feature_names
    """

    def __call__(
        self, *, feature_service: str, entity_rows: Sequence[Mapping[str, Any]]
    ) -> OnlineResponse:
        """One vector per entity row, in the service's canonical order."""


class ServicePlan(Protocol):
    """The resolved view versions and output columns of a feature service.

    Example:
        >>> features.serving_plan(feature_service="fraud").output_names  # doctest: +SKIP
    """

    def __call__(self, *, feature_service: str) -> ServingPlan:
        """The service's serving plan."""


@dataclass(frozen=True)
class FeatureAccess:
    """The feature store's parts the retraining loop uses (built by the facade).

    ``repo_root`` finds the model definitions and relative label paths; ``storage`` the
    monitoring tables, request log, saved datasets and model artifacts; ``registry_config``
    is the database the loop's ledger and the built-in model registry share.

    Example:
        >>> store.retraining.project  # doctest: +SKIP
        'fraud'
    """

    project: str
    repo_root: Path
    storage: StorageLayout
    registry_config: SqliteRegistryConfig | PostgresRegistryConfig
    retrain: RetrainConfig
    monitoring: MonitorConfig
    offline: OfflineEngine
    snapshot: Callable[[], RegistrySnapshot]
    serving_plan: ServicePlan
    historical_features: HistoricalFeatures
    online_features: OnlineFeatures
