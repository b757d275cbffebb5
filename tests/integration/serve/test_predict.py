"""POST /predict: the model's pinned features scored by its champion, on a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from parity import FeatureStore
from parity.retrain.demo_story import run_retrain_story
from parity.scaffold import init_repo


def test_predict_scores_with_the_champion_and_rejects_bad_requests(
    tmp_path: Path, live_server: Any
) -> None:
    root = init_repo(tmp_path / "repo", project="predict_test", rows=6_000)
    store = FeatureStore(root)
    try:
        store.apply(message="test")
        end = datetime.now(UTC)
        for report in store.materialize(end - timedelta(days=400), end):
            store.promote(report.ref)
        story = run_retrain_story(store)
        row = {"user_id": 1, "merchant_id": 1, "amount": 25.0}
        with live_server(store) as live:
            ok = httpx.post(
                f"{live.url}/predict", json={"model": "fraud_model", "entity_rows": [row]}
            )
            bad = httpx.post(
                f"{live.url}/predict", json={"model": "fraud_model", "entity_rows": []}
            )
            unknown = httpx.post(
                f"{live.url}/predict", json={"model": "nope", "entity_rows": [row]}
            )
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert (
            body["model"] == "fraud_model" and f"fraud_model@v{body['version']}" == story.champion
        )
        assert len(body["scores"]) == 1 and 0.0 <= body["scores"][0] <= 1.0
        assert bad.status_code == 400 and "entity_rows" in bad.json()["error"]["message"]
        assert 400 <= unknown.status_code < 500
    finally:
        store.close()
