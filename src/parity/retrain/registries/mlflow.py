"""The MLflow model registry: versions, lineage tags and aliases in MLflow (no stages).

Each parity model ``name`` is the registered model ``<project>.<name>``; each version is
an MLflow run holding the pickled estimator as an artifact, with the lineage as tags and
the metrics logged. Roles are MLflow aliases (``champion``, ``challenger``, ``previous``),
not the deprecated stages. ``mlflow`` is imported here only (``pip install 'parity[mlflow]'``).

Promotion and rollback are several alias writes (one MLflow call each), so they are
journaled: the aliases a transition must end with are recorded in parity's ledger (the
registry database) first, then written one by one, then the transition is marked done. A
crash in between leaves a pending transition; the next promote or rollback re-applies it
to the end before anything else (each write is idempotent), so a re-run completes a
half-done transition instead of computing a new one from half-written aliases. The write
order keeps serving consistent meanwhile: a promotion writes ``previous`` before
``champion``, so the one alias read that resolves the champion sees the old or the new
champion, never none and never a third version.

Example:
    >>> registry = MlflowModelRegistry.open(MlflowModelRegistryConfig(
    ...     tracking_uri="sqlite:///data/mlflow.db"), repo_root=".", project="fraud",
    ...     transitions=ledger)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parity.retrain.errors import ModelLoadError, ModelNotFound
from parity.retrain.ledger.transitions import Transition, TransitionLog
from parity.retrain.registries.base import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    ModelLineage,
    ModelRegistry,
    ModelVersion,
)
from parity.retrain.registries.config import MlflowModelRegistryConfig

_ARTIFACT = "model.pkl"


def _resolve_uri(uri: str, repo_root: Path) -> str:
    """Relative ``sqlite:///`` paths are under the repository, like parity's own files."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = repo_root / uri.removeprefix(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path.resolve())
    return uri


class MlflowModelRegistry(ModelRegistry):
    """Model versions in MLflow's registry.

    ``transitions`` is where promotions and rollbacks are journaled (the project's
    :class:`~parity.retrain.ledger.Ledger`).

    Example:
        >>> MlflowModelRegistry(client, project="fraud", experiment_id="1",
        ...                     transitions=ledger)  # doctest: +SKIP
    """

    def __init__(
        self, client: Any, *, project: str, experiment_id: str, transitions: TransitionLog
    ) -> None:
        self._client = client
        self._project = project
        self._experiment_id = experiment_id
        self._transitions = transitions

    @classmethod
    def open(
        cls,
        config: MlflowModelRegistryConfig,
        *,
        repo_root: str | Path,
        project: str,
        transitions: TransitionLog,
    ) -> MlflowModelRegistry:
        """Connect to the tracking server/database and make sure the experiment exists."""
        from mlflow.tracking import MlflowClient

        root = Path(repo_root)
        uri = _resolve_uri(config.tracking_uri, root)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.get_experiment_by_name(config.experiment)
        if experiment is not None:
            return cls(
                client,
                project=project,
                experiment_id=experiment.experiment_id,
                transitions=transitions,
            )
        location = (
            config.artifact_location or (root / "data" / "mlflow-artifacts").resolve().as_uri()
        )
        experiment_id = client.create_experiment(config.experiment, artifact_location=location)
        return cls(client, project=project, experiment_id=experiment_id, transitions=transitions)

    def _full(self, name: str) -> str:
        return f"{self._project}.{name}"

    def _record(self, name: str, mv: Any) -> ModelVersion:
        lineage = ModelLineage.from_dict(json.loads(mv.tags["parity.lineage"]))
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC)
        return ModelVersion(name, int(mv.version), created, mv.source, lineage)

    def _all(self, name: str) -> list[Any]:
        found = self._client.search_model_versions(f"name='{self._full(name)}'")
        return sorted(found, key=lambda mv: int(mv.version))

    def names(self) -> list[str]:
        """Sorted names of this project's registered models (``<project>.<name>``)."""
        prefix = f"{self._project}."
        names: list[str] = []
        token = None
        while True:  # the results come in pages (100 by default)
            page = self._client.search_registered_models(
                filter_string=f"name LIKE '{prefix}%'", page_token=token
            )
            names.extend(m.name.removeprefix(prefix) for m in page if m.name.startswith(prefix))
            token = page.token
            if not token:
                return sorted(names)

    def register(self, name: str, estimator: Any, *, lineage: ModelLineage) -> ModelVersion:
        """Log the pickled estimator in a run and register it (idempotent by run id)."""
        from mlflow.exceptions import MlflowException

        for mv in self._all(name):
            if mv.tags.get("parity.run_id") == lineage.run_id:
                return self._record(name, mv)
        payload = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        run = self._client.create_run(
            self._experiment_id,
            run_name=f"{name}-{lineage.run_id}",
            tags={"parity.model": name, "parity.run_id": lineage.run_id},
        )
        run_id = run.info.run_id
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / _ARTIFACT
            path.write_bytes(payload)
            self._client.log_artifact(run_id, str(path), artifact_path="model")
        for metric, value in lineage.metrics.items():
            self._client.log_metric(run_id, metric, value)
        self._client.set_terminated(run_id)
        try:
            self._client.get_registered_model(self._full(name))
        except MlflowException:
            self._client.create_registered_model(self._full(name))
        tags = {
            "parity.run_id": lineage.run_id,
            "parity.lineage": json.dumps(lineage.to_dict()),
            "parity.sha256": hashlib.sha256(payload).hexdigest(),
            "parity.feature_service": lineage.feature_service,
            "parity.training_dataset": lineage.training_dataset,
            "parity.code_fingerprint": lineage.code_fingerprint,
        }
        mv = self._client.create_model_version(
            self._full(name), source=f"{run.info.artifact_uri}/model", run_id=run_id, tags=tags
        )
        return self._record(name, mv)

    def versions(self, name: str) -> Sequence[ModelVersion]:
        """Every version of ``name``, oldest first."""
        return [self._record(name, mv) for mv in self._all(name)]

    def load(self, version: ModelVersion) -> Any:
        """Download the artifact, check its SHA-256, unpickle."""
        from mlflow.artifacts import download_artifacts

        mv = self._client.get_model_version(self._full(version.name), str(version.version))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                local = download_artifacts(
                    artifact_uri=f"{mv.source}/{_ARTIFACT}",
                    dst_path=tmp,
                    tracking_uri=self._client._tracking_client.tracking_uri,
                )
                payload = Path(local).read_bytes()
        except Exception as exc:  # MLflow raises several kinds for a missing artifact
            raise ModelLoadError(
                f"Cannot download the artifact of {version.ref} from {mv.source}: {exc!r}. "
                f"Restore it or roll back: 'parity retrain rollback {version.name}'."
            ) from exc
        if hashlib.sha256(payload).hexdigest() != mv.tags.get("parity.sha256"):
            raise ModelLoadError(
                f"The artifact of {version.ref} at {mv.source} does not match its recorded "
                "SHA-256. Restore it or register a new version."
            )
        try:
            return pickle.loads(payload)
        except Exception as exc:  # any unpickling failure means the same thing to the caller
            raise ModelLoadError(f"Cannot unpickle {version.ref}: {exc!r}.") from exc

    def alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at, or None."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version_by_alias(self._full(name), alias)
        except MlflowException:
            return None
        return self._record(name, mv)

    def _alias_version(self, name: str, alias: str) -> int | None:
        found = self.alias(name, alias)
        return None if found is None else found.version

    def _write_alias(self, name: str, alias: str, version: int | None) -> None:
        """One alias write (one MLflow call): idempotent, the unit a crash can stop after."""
        from mlflow.exceptions import MlflowException

        if version is None:
            with contextlib.suppress(MlflowException):  # already absent: removing it is done
                self._client.delete_registered_model_alias(self._full(name), alias)
            return
        self._client.set_registered_model_alias(self._full(name), alias, str(version))

    def _require(self, name: str, version: int) -> None:
        known = [v.version for v in self.versions(name)]
        if version not in known:
            raise ModelNotFound(
                f"No model version {name}@v{version} in MLflow (project {self._project!r}). "
                f"Known versions: {', '.join(f'v{v}' for v in known) or 'none'}."
            )

    def set_alias(self, name: str, alias: str, version: int | None) -> None:
        """Point ``alias`` at ``version`` (None removes it)."""
        if version is not None:
            self._require(name, version)
        self._write_alias(name, alias, version)

    def _apply(self, transition: Transition) -> None:
        for alias, version in transition.target.items():  # in the recorded order
            self._write_alias(transition.model, alias, version)
        self._transitions.finish_transition(transition.id)

    def complete_pending(self, name: str) -> list[Transition]:
        """Re-apply every transition of ``name`` a crash left half done; return them.

        Example:
            >>> registry.complete_pending("fraud_model")  # doctest: +SKIP
            []
        """
        pending = self._transitions.transitions(name, pending=True)
        for transition in pending:
            self._apply(transition)
        return pending

    def _champion(self, name: str) -> ModelVersion:
        champion = self.alias(name, CHAMPION)
        if champion is None:  # only if someone deleted the alias by hand
            raise ModelNotFound(f"Model {name!r} has no champion alias in MLflow.")
        return champion

    def promote(self, name: str, version: int) -> ModelVersion:
        """Journal, then previous := champion, champion := version, challenger removed.

        A half-done promotion to the same version is completed, not started again.
        """
        completed = self.complete_pending(name)
        if any(t.kind == "promote" and t.target.get(CHAMPION) == version for t in completed):
            return self._champion(name)
        self._require(name, version)
        current = self._alias_version(name, CHAMPION)
        target: dict[str, int | None] = {
            PREVIOUS: current
            if current not in (None, version)
            else self._alias_version(name, PREVIOUS),
            CHAMPION: version,
        }
        if self._alias_version(name, CHALLENGER) == version:
            target[CHALLENGER] = None
        self._apply(self._transitions.begin_transition(name, kind="promote", target=target))
        return self._champion(name)

    def rollback(self, name: str) -> ModelVersion:
        """Journal, then champion := previous, previous := the old champion.

        A half-done rollback is completed, not swapped a second time.
        """
        if any(t.kind == "rollback" for t in self.complete_pending(name)):
            return self._champion(name)
        previous = self._alias_version(name, PREVIOUS)
        if previous is None:
            raise ModelNotFound(
                f"Model {name!r} has no previous champion to roll back to. Promote a version "
                f"explicitly: 'parity retrain promote {name} --version N'."
            )
        target = {CHAMPION: previous, PREVIOUS: self._alias_version(name, CHAMPION)}
        self._apply(self._transitions.begin_transition(name, kind="rollback", target=target))
        return self._champion(name)

    def close(self) -> None:
        """Release the journal's database connections."""
        self._transitions.engine.dispose()
