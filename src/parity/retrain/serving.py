"""Serving with models: features of the pinned service -> the champion -> a logged result.

:class:`ModelServer` is what the feature server holds: it resolves the ``champion`` alias
(briefly cached), keeps loaded estimators, reads the online features of the service
version the model was trained on, predicts, and returns a :class:`Prediction` to log.
When a ``challenger`` exists it runs in shadow on a background thread with the same
feature vectors, off the hot path, and both predictions go to the prediction log.
If the champion cannot load, the ``previous`` version serves and an alert is raised. If
the model registry cannot be read (its database locked or down), the last champion read
keeps serving until it can.

Example:
    >>> result = predict(store.retraining, "fraud_model", [{"user_id": 1, "merchant_id": 2,
    ...                                          "amount": 30.0}])  # doctest: +SKIP
    >>> result.scores  # doctest: +SKIP
    [0.012]
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from parity.retrain.alerts import AlertSink, Severity
from parity.retrain.context import Clock, feature_matrix, system_clock
from parity.retrain.errors import ModelLoadError, ModelNotFound
from parity.retrain.registries.base import CHALLENGER, CHAMPION, PREVIOUS, ModelVersion
from parity.retrain.scoring import score

if TYPE_CHECKING:
    from parity.retrain.features import FeatureAccess
    from parity.retrain.registries.base import ModelRegistry
    from parity.retrieval.vectors import OnlineResponse

_ALIAS_CACHE_SECONDS = 2.0
logger = logging.getLogger("parity.retrain")


@dataclass(frozen=True)
class Prediction:
    """One scored request: what the server returns and logs.

    Example:
        >>> Prediction("r1", "m", 1, "champion", [0.2], [[1.0]], ("x",), "2026-01-01").scores
        [0.2]
    """

    request_id: str
    model: str
    version: int
    role: str
    scores: list[float]
    features: list[list[Any]]
    feature_names: tuple[str, ...]
    served_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the log line)."""
        data = asdict(self)
        data["feature_names"] = list(self.feature_names)
        return data


class PredictionLog:
    """Appends predictions as JSON lines under ``data/models/predictions/<model>.jsonl``.

    Example:
        >>> import tempfile
        >>> PredictionLog(Path(tempfile.mkdtemp()) / "predictions").read("fraud_model")
        []
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()

    def write(self, prediction: Prediction) -> None:
        """Append one prediction."""
        self._root.mkdir(parents=True, exist_ok=True)
        line = json.dumps(prediction.to_dict(), default=str) + "\n"
        with self._lock, (self._root / f"{prediction.model}.jsonl").open("a") as out:
            out.write(line)

    def read(self, model: str) -> list[dict[str, Any]]:
        """Every logged prediction of ``model``, oldest first."""
        path = self._root / f"{model}.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


class ModelServer:
    """Scores entity rows with a model's champion, and its challenger in shadow.

    Example:
        >>> server = ModelServer(store.retraining, registry)  # doctest: +SKIP
        >>> server.predict("fraud_model", rows).scores  # doctest: +SKIP
    """

    def __init__(
        self,
        features: FeatureAccess,
        registry: ModelRegistry,
        *,
        alerts: AlertSink | None = None,
        log: PredictionLog | None = None,
        clock: Clock = system_clock,
        on_served: Callable[[OnlineResponse], None] | None = None,
        alias_cache_seconds: float = _ALIAS_CACHE_SECONDS,
    ) -> None:
        self._online_features = features.online_features
        self._on_served = on_served  # sees each online read (the feature server logs it)
        self._registry = registry
        self._alerts = alerts
        self.log = log or PredictionLog(features.storage.models_root / "predictions")
        self._clock = clock
        self._alias_seconds = alias_cache_seconds
        self._estimators: dict[tuple[str, int], Any] = {}
        self._aliases: dict[tuple[str, str], tuple[float, ModelVersion | None]] = {}
        self._shadow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-shadow")
        self.pending: list[Future[Prediction]] = []

    def close(self) -> None:
        """Finish pending shadow predictions and stop the shadow thread."""
        self._shadow.shutdown(wait=True)

    def _alias(self, name: str, alias: str) -> ModelVersion | None:
        now = time.monotonic()
        cached = self._aliases.get((name, alias))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            version = self._registry.alias(name, alias)
        except Exception as exc:  # database or MLflow server unreachable: any error type
            if cached is None:
                raise
            # Production keeps serving the champion it knows while the registry is down.
            logger.warning("model registry unreadable, %s %s stays %s: %r", name, alias,
                           None if cached[1] is None else cached[1].ref, exc)  # fmt: skip
            version = cached[1]
        self._aliases[(name, alias)] = (now + self._alias_seconds, version)
        return version

    def _estimator(self, version: ModelVersion) -> Any:
        key = (version.name, version.version)
        if key not in self._estimators:
            self._estimators[key] = self._registry.load(version)
        return self._estimators[key]

    def _serving(self, name: str) -> tuple[ModelVersion, Any, str]:
        champion = self._alias(name, CHAMPION)
        if champion is None:
            raise ModelNotFound(
                f"Model {name!r} has no champion yet. Train one: 'parity retrain run {name}'."
            )
        try:
            return champion, self._estimator(champion), CHAMPION
        except ModelLoadError as exc:
            previous = self._alias(name, PREVIOUS)
            if self._alerts is not None:
                self._alerts.alert(name, Severity.CRITICAL, str(exc), {"version": champion.ref})
            if previous is None:
                raise
            return previous, self._estimator(previous), PREVIOUS

    def features(
        self, version: ModelVersion, entity_rows: Sequence[Mapping[str, Any]]
    ) -> list[list[Any]]:
        """The model's input vectors: online features of its pinned service + request fields."""
        response = self._online_features(
            feature_service=version.lineage.feature_service, entity_rows=entity_rows
        )
        if self._on_served is not None:
            self._on_served(response)
        served = dict(zip(response.feature_names, zip(*response.values, strict=True), strict=True))
        columns = [
            list(served[n]) if n in served else [row.get(n) for row in entity_rows]
            for n in version.lineage.feature_names
        ]
        return [list(row) for row in zip(*columns, strict=True)]

    def _score(
        self, version: ModelVersion, estimator: Any, vectors: list[list[Any]]
    ) -> list[float]:
        import pandas as pd

        names = version.lineage.feature_names
        frame = feature_matrix(
            pd.DataFrame(vectors, columns=list(names)), names, version.lineage.text_features
        )
        return [float(s) for s in score(estimator, frame)]

    def predict(self, name: str, entity_rows: Sequence[Mapping[str, Any]]) -> Prediction:
        """Score ``entity_rows`` with the champion; the challenger (if any) runs in shadow."""
        version, estimator, role = self._serving(name)
        vectors = self.features(version, entity_rows)
        result = Prediction(
            uuid.uuid4().hex,
            name,
            version.version,
            role,
            self._score(version, estimator, vectors),
            vectors,
            version.lineage.feature_names,
            self._clock().isoformat(),
        )
        self._shadow.submit(self.log.write, result)  # logging stays off the hot path
        challenger = self._alias(name, CHALLENGER)
        if challenger is not None and challenger.version != version.version:
            self.pending.append(
                self._shadow.submit(self._run_shadow, challenger, entity_rows, result)
            )
        return result

    def _run_shadow(
        self, challenger: ModelVersion, rows: Sequence[Mapping[str, Any]], served: Prediction
    ) -> Prediction:
        same_inputs = challenger.lineage.feature_names == served.feature_names
        vectors = served.features if same_inputs else self.features(challenger, rows)
        shadow = Prediction(
            served.request_id,
            challenger.name,
            challenger.version,
            CHALLENGER,
            self._score(challenger, self._estimator(challenger), vectors),
            vectors,
            challenger.lineage.feature_names,
            self._clock().isoformat(),
        )
        self.log.write(shadow)
        return shadow

    def shadow_check(self, name: str, entity_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Serve ``entity_rows`` one request each, wait for the shadow results, summarise."""
        errors: list[str] = []
        pairs: list[tuple[float, float]] = []
        self.pending.clear()
        if self._alias(name, CHAMPION) is None:
            return self._first_model_check(name, entity_rows)
        for row in entity_rows:
            try:
                served = self.predict(name, [row])
            except Exception as exc:  # a failing request is what shadow mode is for
                errors.append(f"champion: {exc!r}")
                continue
            for future in self.pending:
                try:
                    shadow = future.result()
                except Exception as exc:
                    errors.append(f"challenger: {exc!r}")
                    continue
                if not np.all(np.isfinite(shadow.scores)):
                    errors.append(f"challenger: non-finite score {shadow.scores}")
                pairs.append((served.scores[0], shadow.scores[0]))
            self.pending.clear()
        diffs = [abs(a - b) for a, b in pairs]
        return {
            "requests": len(pairs),
            "errors": len(errors),
            "first_errors": errors[:3],
            "mean_abs_difference": float(np.mean(diffs)) if diffs else None,
        }

    def _first_model_check(
        self, name: str, entity_rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """No champion yet: the challenger alone must score every request on the serving path."""
        challenger = self._alias(name, CHALLENGER)
        if challenger is None:
            raise ModelNotFound(f"Model {name!r} has neither a champion nor a challenger.")
        errors: list[str] = []
        served = 0
        for row in entity_rows:
            try:
                vectors = self.features(challenger, [row])
                scores = self._score(challenger, self._estimator(challenger), vectors)
            except Exception as exc:  # a failing request is what shadow mode is for
                errors.append(f"challenger: {exc!r}")
                continue
            if not np.all(np.isfinite(scores)):
                errors.append(f"challenger: non-finite score {scores}")
            served += 1
        return {
            "requests": served,
            "errors": len(errors),
            "first_errors": errors[:3],
            "mean_abs_difference": None,
        }


def predict(
    features: FeatureAccess, model_name: str, entity_rows: Sequence[Mapping[str, Any]]
) -> Prediction:
    """One-off prediction with the production model (a long-lived server keeps a ModelServer).

    Example:
        >>> rows = [{"user_id": 1, "merchant_id": 2, "amount": 9.5}]
        >>> predict(store.retraining, "fraud_model", rows)  # doctest: +SKIP
    """
    from parity.retrain.wiring import open_model_registry

    registry = open_model_registry(features)
    server = ModelServer(features, registry)
    try:
        return server.predict(model_name, entity_rows)
    finally:
        server.close()
        registry.close()
