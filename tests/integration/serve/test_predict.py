"""POST /predict: the model's pinned features scored by its champion, on a real server;
the served vector and the scores land in the request log, where late labels join them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parity import FeatureStore
from parity.monitor.log_layout import find_layouts
from parity.monitor.performance import ingest_labels, logged_predictions, performance
from parity.monitor.records import monitoring_root
from parity.monitor.served import request_log_root
from parity.retrain.demo_story import StoryResult, run_retrain_story
from parity.scaffold import init_repo


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FeatureStore, StoryResult]]:
    root = init_repo(
        tmp_path_factory.mktemp("predict") / "repo", project="predict_test", rows=6_000
    )
    store = FeatureStore(root)
    store.apply(message="test")
    end = datetime.now(UTC)
    for report in store.materialize(end - timedelta(days=400), end):
        store.promote(report.ref)
    story = run_retrain_story(store.retraining)
    yield store, story
    store.close()


def test_predict_scores_with_the_champion_and_rejects_bad_requests(
    trained: tuple[FeatureStore, StoryResult], live_server: Any
) -> None:
    store, story = trained
    row = {"user_id": 1, "merchant_id": 1, "amount": 25.0}
    with live_server(store) as live:
        ok = httpx.post(f"{live.url}/predict", json={"model": "fraud_model", "entity_rows": [row]})
        bad = httpx.post(f"{live.url}/predict", json={"model": "fraud_model", "entity_rows": []})
        unknown = httpx.post(f"{live.url}/predict", json={"model": "nope", "entity_rows": [row]})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["model"] == "fraud_model" and f"fraud_model@v{body['version']}" == story.champion
    assert len(body["scores"]) == 1 and 0.0 <= body["scores"][0] <= 1.0
    assert bad.status_code == 400 and "entity_rows" in bad.json()["error"]["message"]
    assert 400 <= unknown.status_code < 500


def test_predict_logs_vector_and_scores_that_late_labels_join_by_request_id(
    trained: tuple[FeatureStore, StoryResult], live_server: Any
) -> None:
    store, _ = trained
    rows = [
        {"user_id": 1, "merchant_id": 1, "amount": 25.0},
        {"user_id": 2, "merchant_id": 3, "amount": 900.0},
    ]
    with live_server(store, request_log={"flush_interval_seconds": 3600}) as live:
        first = httpx.post(
            f"{live.url}/predict", json={"model": "fraud_model", "entity_rows": rows}
        )
        second = httpx.post(
            f"{live.url}/predict", json={"model": "fraud_model", "entity_rows": rows[:1]}
        )
    assert first.status_code == second.status_code == 200, first.text
    answers = {a["request_id"]: a for a in (first.json(), second.json())}
    log = request_log_root(store.offline_path)
    predicted = logged_predictions(log).to_pylist()
    assert sorted((p["request_id"], p["row_index"]) for p in predicted) == sorted(
        (rid, i) for rid, a in answers.items() for i in range(len(a["scores"]))
    )
    for p in predicted:
        answer = answers[p["request_id"]]
        assert p["model"] == "fraud_model" and p["score"] == answer["scores"][p["row_index"]]
    # The served vector of the model's pinned service, typed, in the same row.
    (stored,) = [s for s in find_layouts(log) if s.layout.prediction]
    logged = {
        (r["request_id"], r["row_index"]): r
        for f in stored.files()
        for r in pq.read_table(f).to_pylist()
    }
    service_vector = store.get_online_features(
        feature_service=stored.layout.service + f"@v{stored.layout.service_version}",
        entity_rows=rows,
    )
    request_id = first.json()["request_id"]
    for i in range(2):
        row = logged[(request_id, i)]
        assert row["prediction"]["model_version"] == first.json()["version"]
        assert list(row["features"].values()) == service_vector.values[i]
        assert row["entity"] == {
            "user_id": rows[i]["user_id"],
            "merchant_id": rows[i]["merchant_id"],
        }
    labels = pa.table(
        {
            "request_id": [request_id, request_id, "never-served"],
            "row_index": [0, 1, 0],
            "label": pa.array([1, 0, 1], pa.int8()),
        }
    )
    root = monitoring_root(store.offline_path)
    ingested = ingest_labels(root, labels, request_log=log)
    assert (ingested.matched, ingested.unmatched) == (2, 1)
    report = performance(root, model="fraud_model", window=timedelta(days=1), request_log=log)
    assert sum(w.predictions for w in report.windows) == 3
    assert sum(w.labeled for w in report.windows) == 2
    without_log = performance(root, model="fraud_model", window=timedelta(days=1))
    assert sum(w.predictions for w in without_log.windows) == 0
