"""The model registry interface: versions with lineage, aliases, atomic promote/rollback.

Aliases name roles: ``champion`` serves production, ``challenger`` runs in shadow,
``previous`` is the champion before the last promotion (what rollback restores).

Example:
    >>> lineage = ModelLineage("fraud_detection@v1", (), "fraud_model_r1", {"roc_auc": 0.9},
    ...                        "ab12", "r1", ("amount",))
    >>> lineage.to_dict()["feature_service"]
    'fraud_detection@v1'
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"


@dataclass(frozen=True)
class ModelLineage:
    """Everything a model version was built from.

    ``service_pins`` are the exact view versions of the feature service version, as
    ``{"view": name, "version": n, "features": [...]}`` dicts.
    """

    feature_service: str
    service_pins: tuple[Mapping[str, Any], ...]
    training_dataset: str
    metrics: Mapping[str, float]
    code_fingerprint: str
    run_id: str
    feature_names: tuple[str, ...]
    text_features: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        data = asdict(self)
        data["service_pins"] = [dict(p) for p in self.service_pins]
        data["feature_names"] = list(self.feature_names)
        data["text_features"] = list(self.text_features)
        data["metrics"] = dict(self.metrics)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelLineage:
        """Inverse of :meth:`to_dict`."""
        return cls(
            feature_service=data["feature_service"],
            service_pins=tuple(dict(p) for p in data["service_pins"]),
            training_dataset=data["training_dataset"],
            metrics={k: float(v) for k, v in data["metrics"].items()},
            code_fingerprint=data["code_fingerprint"],
            run_id=data["run_id"],
            feature_names=tuple(data["feature_names"]),
            text_features=tuple(data.get("text_features", ())),
        )


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version.

    Example:
        >>> lineage = ModelLineage("fraud", (), "fraud_train", {"f1": 0.8}, "abc", "r1",
        ...                        ("amount",))
        >>> mv = ModelVersion("fraud_model", 2, None, "file:///m.pkl", lineage)
        >>> mv.ref
        'fraud_model@v2'
    """

    name: str
    version: int
    created_at: datetime | None
    artifact_uri: str
    lineage: ModelLineage

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return f"{self.name}@v{self.version}"


class ModelRegistry(abc.ABC):
    """Where model versions, their artifacts and their aliases live.

    Example:
        >>> registry.register("fraud_model", estimator, lineage=lineage)  # doctest: +SKIP
    """

    @abc.abstractmethod
    def register(self, name: str, estimator: Any, *, lineage: ModelLineage) -> ModelVersion:
        """Store a new version; a second call with the same ``lineage.run_id`` returns it."""

    @abc.abstractmethod
    def versions(self, name: str) -> Sequence[ModelVersion]:
        """Every version of ``name``, oldest first."""

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Sorted names of the models with at least one version in this project."""

    def all_versions(self) -> dict[str, list[ModelVersion]]:
        """Every version of every model of the project, by name (oldest first).

        A registry that can read them at once overrides this (one query instead of one
        per model: the web UI's pages list every model).
        """
        return {name: list(self.versions(name)) for name in self.names()}

    def all_aliases(self) -> dict[str, dict[str, int]]:
        """Where the ``champion``, ``challenger`` and ``previous`` aliases of every model
        point, by name (models without an alias are left out)."""
        out: dict[str, dict[str, int]] = {}
        for name in self.names():
            for role in (CHAMPION, CHALLENGER, PREVIOUS):
                found = self.alias(name, role)
                if found is not None:
                    out.setdefault(name, {})[role] = found.version
        return out

    @abc.abstractmethod
    def load(self, version: ModelVersion) -> Any:
        """The fitted estimator of ``version``; :class:`ModelLoadError` if it cannot load."""

    @abc.abstractmethod
    def alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version an alias points at, or None."""

    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: int | None) -> None:
        """Point ``alias`` at ``version`` (None removes it)."""

    @abc.abstractmethod
    def promote(self, name: str, version: int) -> ModelVersion:
        """Atomically: ``previous`` := champion, ``champion`` := version, challenger removed."""

    @abc.abstractmethod
    def rollback(self, name: str) -> ModelVersion:
        """Atomically swap ``champion`` and ``previous``; return the new champion."""

    def close(self) -> None:  # noqa: B027 - optional hook: most registries hold nothing
        """Release resources; the default holds none."""
