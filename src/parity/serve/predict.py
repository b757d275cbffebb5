"""``POST /predict``: features of the model's pinned service, scored by its champion.

The model server (and scikit-learn behind it) is built on the first request, so a
feature server without models never imports the retraining stack. A challenger, when one
exists, scores the same vector in shadow off the request's path; both are logged.

Example:
    >>> parse_predict_request({"model": "fraud_model", "entity_rows": [{"user_id": 1}]})
    ('fraud_model', [{'user_id': 1}])
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parity.serve.http_errors import BadRequest

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


class Predictor:
    """Holds one lazily built model server for the life of the feature server."""

    def __init__(self, store: FeatureStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._server: ModelServer | None = None
        self._registry: Any = None

    def _model_server(self) -> ModelServer:
        with self._lock:
            if self._server is None:
                from parity.retrain.serving import ModelServer
                from parity.retrain.wiring import open_model_registry

                self._registry = open_model_registry(self._store)
                self._server = ModelServer(self._store, self._registry)
            return self._server

    def predict(self, model: str, entity_rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Score ``entity_rows`` with the model's champion (blocking: run it in a thread)."""
        result: dict[str, Any] = self._model_server().predict(model, entity_rows).to_dict()
        return result

    def close(self) -> None:
        """Finish pending shadow scoring and release the model registry."""
        if self._server is not None:
            self._server.close()
        if self._registry is not None:
            self._registry.close()
