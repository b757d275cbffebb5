"""The request log (flushed on graceful shutdown, bounded in memory) and ``/metrics``."""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow.parquet as pq
from prometheus_client.parser import text_string_to_metric_families

from parity import FeatureStore
from parity.monitor.log_layout import find_layouts

from .conftest import EVENT

SERVICE = {"feature_service": "fraud_detection"}


def log_rows(store: FeatureStore) -> list[dict[str, Any]]:
    """Every logged row of every layout (each file read with its own typed schema)."""
    root = store.repo_path / "data" / "offline" / "request_log"
    if not root.exists():
        return []
    return [
        row
        for stored in find_layouts(root)
        for path in stored.files()
        for row in pq.read_table(path).to_pylist()
    ]


def samples(url: str, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", **kw).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_every_served_vector_is_in_the_log_after_graceful_shutdown(
    store: FeatureStore, live_server: Any
) -> None:
    server = live_server(store, request_log={"flush_interval_seconds": 3600})
    with server as live:
        first = httpx.post(
            f"{live.url}/get-online-features",
            json={
                **SERVICE,
                "entity_rows": [
                    {"user_id": 1, "merchant_id": 7},
                    {"user_id": 2, "merchant_id": 99},
                ],
            },
        )
        feast = httpx.post(
            f"{live.url}/get-online-features",
            json={"features": ["user_live:txn_count"], "entities": {"user_id": [1]}},
            headers={"x-request-id": "feast-call-1"},
        )
        assert first.status_code == feast.status_code == 200
        # Nothing is written before the flush: the writer is off the hot path.
        assert not [r for r in log_rows(store) if r["request_id"] == first.json()["request_id"]]
    rows = {(r["request_id"], r["row_index"]): r for r in log_rows(store)}
    request_id = first.json()["request_id"]
    one, two = rows[(request_id, 0)], rows[(request_id, 1)]
    assert one["service"] == "fraud_detection" and one["service_version"] == 1
    views = ["user_transaction_stats@v1", "user_profile@v1", "merchant_risk@v1"]
    assert list(one["event_timestamps"]) == views
    assert one["entity"] == {"user_id": 1, "merchant_id": 7}
    assert list(one["features"]) == first.json()["metadata"]["feature_names"]
    assert list(one["features"].values()) == first.json()["results"][0]["values"]
    assert list(one["statuses"].values()) == ["present"] * 8
    assert one["event_timestamps"] == dict.fromkeys(views, EVENT)
    assert list(two["statuses"].values())[-3:] == ["not_found"] * 3
    assert two["event_timestamps"]["merchant_risk@v1"] is None
    assert one["sample_weight"] == 1.0
    assert (
        one["served_at"].isoformat().replace("+00:00", "Z") == first.json()["metadata"]["served_at"]
    )
    feast_row = rows[("feast-call-1", 0)]
    assert feast_row["service"] is None and list(feast_row["features"]) == ["txn_count"]


def test_log_memory_is_bounded_and_drops_are_counted(make_repo: Any, live_server: Any) -> None:
    store = make_repo()
    # One pending row at most: requests faster than the 250 ms hand-over are dropped.
    server = live_server(store, request_log={"flush_interval_seconds": 3600, "max_pending_rows": 1})
    with server as live, httpx.Client(base_url=live.url) as client:
        for user in range(20):
            reply = client.post(
                "/get-online-features",
                json={"feature_service": "live", "entity_rows": [{"user_id": user}]},
            )
            assert reply.status_code == 200
        metrics = samples(live.url)
    dropped = sum(
        v for (name, _), v in metrics.items() if name == "parity_request_log_rows_dropped_total"
    )
    logged = log_rows(store)
    assert len(logged) + dropped == 20  # every served row is either logged or counted
    assert (
        metrics[("parity_request_log_rows_dropped_total", (("reason", "over_memory_bound"),))] > 0
    )
    assert all(r["sample_weight"] >= 1.0 for r in logged)


def test_metrics_count_requests_latency_staleness_and_pushes(
    make_repo: Any, live_server: Any
) -> None:
    store = make_repo()
    with live_server(store) as live:
        for _ in range(3):
            httpx.post(
                f"{live.url}/get-online-features",
                json={**SERVICE, "entity_rows": [{"user_id": 1, "merchant_id": 8}]},
            )
        httpx.post(
            f"{live.url}/get-online-features",
            json={"feature_service": "nope", "entity_rows": [{"user_id": 1}]},
        )
        httpx.post(
            f"{live.url}/push",
            json={
                "push_source_name": "txn_push",
                "rows": [
                    {"user_id": 1, "last_amount": 1.0, "event_timestamp": EVENT.isoformat()},
                    {"user_id": 2, "last_amount": -1.0, "event_timestamp": EVENT.isoformat()},
                ],
            },
        )
        metrics = samples(live.url)
    endpoint = ("endpoint", "/get-online-features")
    assert (
        metrics[
            ("parity_requests_total", (("code", "200"), endpoint, ("service", "fraud_detection")))
        ]
        == 3
    )
    assert metrics[("parity_requests_total", (("code", "404"), endpoint, ("service", "")))] == 1
    assert (
        metrics[
            ("parity_request_latency_seconds_count", (endpoint, ("service", "fraud_detection")))
        ]
        == 3
    )
    assert metrics[("parity_entities_served_total", (("service", "fraud_detection"),))] == 3
    ages = metrics[("parity_served_feature_age_seconds_sum", (("view", "user_profile@v1"),))]
    # Three values about an hour old when the module's data was made; the module may
    # have been imported minutes before this test runs in a full suite.
    assert 3 * 3500 < ages < 3 * 5400
    assert (
        metrics[
            ("parity_served_values_total", (("status", "not_found"), ("view", "merchant_risk@v1")))
        ]
        == 9
    )
    assert (
        metrics[
            ("parity_served_values_total", (("status", "present"), ("view", "user_profile@v1")))
        ]
        == 6
    )
    assert metrics[("parity_push_rows_written_total", (("push_source", "txn_push"),))] == 1
    assert metrics[("parity_push_rows_rejected_total", (("push_source", "txn_push"),))] == 1


def test_a_dead_log_writer_is_replaced(make_repo: Any, live_server: Any) -> None:
    import time

    store = make_repo()
    server = live_server(store, request_log={"flush_interval_seconds": 3600})
    body = {"feature_service": "live", "entity_rows": [{"user_id": 1}]}
    with server as live:
        log = live.server.config.app.request_log
        first = log._process
        first.kill()  # the writer dies (OOM killer, operator...)
        first.wait()
        # The next hand-over (a tick every 250 ms) fails and a new writer starts.
        until = time.monotonic() + 5
        while log._process is first:
            assert time.monotonic() < until, "no new writer process"
            time.sleep(0.05)
        reply = httpx.post(
            f"{live.url}/get-online-features", json=body, headers={"x-request-id": "after"}
        )
        assert reply.status_code == 200
    assert "after" in {r["request_id"] for r in log_rows(store)}
