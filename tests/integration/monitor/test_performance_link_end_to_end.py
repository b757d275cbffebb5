"""End to end: a real server logs served values, the model's error grows with the drift of
one feature window after window, and ``parity report performance --dataset`` calls that
feature's drift harmful (the training dataset's profile was saved with it)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parity.monitor.performance import ingest_labels, log_predictions
from parity.monitor.profile import PROFILE_FILE
from parity.monitor.records import monitoring_root
from parity.scaffold import init_repo
from parity.serve.app import create_app
from parity.serve.config import ServerConfig
from parity.store import FeatureStore

VIEW = "user_transaction_stats@v1"
WINDOW_SECONDS = 2
WINDOWS = 6


def start_server(store: FeatureStore) -> tuple[str, object, threading.Thread]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = ServerConfig.model_validate({"request_log": {"flush_interval_seconds": 0.2}})
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, config=config), host="127.0.0.1", port=port,
                       lifespan="on", log_level="warning")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server, thread


def test_drift_that_tracks_the_error_is_reported_harmful(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "r", project="link", rows=3000)
    with (root / "parity.yaml").open("a") as f:
        f.write("monitoring: {drift: {min_rows: 20}}\n")
    store = FeatureStore(root)
    store.apply(message="t")
    now = datetime.now(UTC)
    for report in store.materialize(now - timedelta(days=400), now):
        store.promote(report.ref, message="validated")
    source = pq.read_table(root / "data/user_transaction_stats.parquet")
    latest = (
        source.sort_by([("event_timestamp", "descending")])
        .group_by("user_id", use_threads=False)
        .aggregate([("amount_mean_7d", "first"), ("event_timestamp", "first")])
    )
    # Only users whose newest value is within the view's ttl (7 days) serve a value.
    recent = pa.scalar(now - timedelta(days=6), latest.schema.field("event_timestamp_first").type)
    latest = latest.filter(pc.greater_equal(latest.column("event_timestamp_first"), recent))
    # Trained on each user's newest values: what the server serves when nothing drifts.
    entities = latest.select(["user_id", "event_timestamp_first"]).rename_columns(
        ["user_id", "event_timestamp"]
    )
    training = store.get_historical_features(entities, features=[VIEW]).save("train")
    assert (training.path / PROFILE_FILE).is_file()  # saved with the dataset
    users = latest.sort_by("amount_mean_7d_first").column("user_id").to_pylist()
    rows_per_window = len(users)

    url, server, thread = start_server(store)
    predictions = []
    labels = []
    try:
        for k in range(WINDOWS):
            # Window k serves the top (1 - 0.15 k) of users by amount: drift rises with k.
            pool = users[int(len(users) * 0.15 * k) :]
            rows = [{"user_id": pool[i % len(pool)]} for i in range(rows_per_window)]
            wait = WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.1
            time.sleep(wait)
            served_at = datetime.now(UTC)
            reply = httpx.post(
                f"{url}/get-online-features",
                json={"features": [VIEW], "entity_rows": rows},
            )
            assert reply.status_code == 200, reply.text
            request_id = reply.headers["x-request-id"]
            for i in range(rows_per_window):
                wrong = i < rows_per_window * 0.12 * k  # error rises with k
                label = i % 2
                score = float(1 - label if wrong else label)
                predictions.append((request_id, i, served_at, score))
                labels.append((request_id, i, label))
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=15)  # graceful: the request log is flushed
    monitoring = monitoring_root(store.offline_path)
    request_ids, indices, stamps, scores = zip(*predictions, strict=True)
    log_predictions(
        monitoring,
        pa.table({"request_id": request_ids, "row_index": pa.array(indices, pa.int32()),
                  "model": ["m"] * len(scores), "predicted_at": stamps, "score": scores}),
    )  # fmt: skip
    label_ids, label_rows, values = zip(*labels, strict=True)
    ingest_labels(
        monitoring,
        pa.table({"request_id": label_ids, "row_index": pa.array(label_rows, pa.int32()),
                  "label": pa.array(values, pa.int8())}),
    )  # fmt: skip
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), "report", "performance",
         "--model", "m", "--window", f"{WINDOW_SECONDS}s", "--dataset", "train",
         "--validation", "f1=1.0", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["windows"]) == WINDOWS
    f1 = [w["metrics"]["f1"] for w in data["windows"]]
    assert f1 == sorted(f1, reverse=True) and f1[0] == 1.0
    psi = data["drift_by_window"]["amount_mean_7d"]
    assert all(v is not None for v in psi) and psi[0] < 0.1  # window 0 is the training data
    links = {link["feature"]: link for link in data["links"]}
    assert set(links) == {"txn_count_7d", "amount_sum_7d", "amount_mean_7d", "amount_max_7d"}
    assert links["amount_mean_7d"]["verdict"] == "harmful", (psi, links["amount_mean_7d"])
    assert links["amount_mean_7d"]["windows"] == WINDOWS
    assert pc.sum(pa.array([w["labeled"] for w in data["windows"]])).as_py() == len(labels)
