"""``POST /predict``: features of the model's pinned service, scored by its champion.

The model server (and scikit-learn behind it) is built on the first request, so a
feature server without models never imports the retraining stack. A challenger, when one
exists, scores the same vector in shadow off the request's path; both are logged in the
model's prediction log. The champion's served vector and its scores also go to the
request log (one row per entity row, with a ``prediction`` column), under the answer's
``request_id``: ``parity labels ingest`` joins late labels to them.

Example:
    >>> parse_predict_request({"model": "fraud_model", "entity_rows": [{"user_id": 1}]})
    ('fraud_model', [{'user_id': 1}])
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parity.errors import BadRequest
from parity.retrieval.resolve import ServingPlan
from parity.retrieval.vectors import OnlineResponse
from parity.serve.request_log import ServedPrediction

if TYPE_CHECKING:
    from parity.retrain.serving import ModelServer
    from parity.store import FeatureStore


def parse_predict_request(body: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """``(model, entity_rows)`` from a request body, or :class:`BadRequest` naming the problem."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest(
            f"/predict: 'model' must be a model name, got {model!r}. "
            'Example: {"model": "fraud_model", "entity_rows": [{"user_id": 1}]}.'
        )
    rows = body.get("entity_rows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise BadRequest(
            "/predict: 'entity_rows' must be a non-empty list of objects (join keys and "
            f"request fields), got {rows!r}."
        )
    return model, rows


@dataclass(frozen=True)
class Scored:
    """The answer to one ``/predict`` and what the request log records of it.

    ``served`` is the champion's online read (None when it could not be captured) and
    ``plan`` the serving plan that produced it.

    Example:
        >>> Scored({"scores": [0.1]}, "r1", None, None, None).request_id
        'r1'
    """

    body: dict[str, Any]
    request_id: str
    served: OnlineResponse | None
    plan: ServingPlan | None
    prediction: ServedPrediction | None


class Predictor:
    """Holds one lazily built model server for the life of the feature server."""

    def __init__(self, store: FeatureStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._server: ModelServer | None = None
        self._registry: Any = None
        # The online read of the champion, captured on the thread that predicts (a
        # challenger's read happens on the shadow thread and is not captured).
        self._local = threading.local()

    def _model_server(self) -> ModelServer:
        with self._lock:
            if self._server is None:
                from parity.retrain.serving import ModelServer
                from parity.retrain.wiring import open_model_registry

                self._registry = open_model_registry(self._store.retraining)
                self._server = ModelServer(
                    self._store.retraining, self._registry, on_served=self._served
                )
            return self._server

    def _served(self, response: OnlineResponse) -> None:
        if getattr(self._local, "capturing", False):
            self._local.served = response

    def predict(self, model: str, entity_rows: list[dict[str, Any]]) -> Scored:
        """Score ``entity_rows`` with the model's champion (blocking: run it in a thread)."""
        server = self._model_server()
        self._local.capturing, self._local.served = True, None
        try:
            result = server.predict(model, entity_rows)
        finally:
            self._local.capturing = False
        served: OnlineResponse | None = self._local.served
        self._local.served = None
        # The plan the read used (same package: the response keeps it for typed output).
        plan = None if served is None else served._plan
        prediction = ServedPrediction(result.model, result.version, result.role, result.scores)
        return Scored(result.to_dict(), result.request_id, served, plan, prediction)

    def close(self) -> None:
        """Finish pending shadow scoring and release the model registry."""
        if self._server is not None:
            self._server.close()
        if self._registry is not None:
            self._registry.close()
