"""``/get-online-features`` on SQLite and Redis: parity and Feast shapes, the client, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from parity import FeatureStore
from parity.client import Client
from parity.retrieval.vectors import FeatureStatus

from .conftest import EVENT

FRAUD_ORDER = [
    "amount_mean_7d",
    "amount_max_7d",
    "txn_count_7d",
    "account_age_days",
    "country",
    "category",
    "chargeback_rate",
    "risk_score",
]


@pytest.fixture(scope="module")
def server(store: FeatureStore) -> Any:
    from .conftest import serve

    with serve(store, request_log={"flush_interval_seconds": 0.2}) as live:
        yield live


def post(server: Any, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/get-online-features", json=body, **kwargs)


def test_service_read_returns_values_statuses_timestamps_and_ages_in_canonical_order(
    server: Any,
) -> None:
    reply = post(
        server,
        {
            "feature_service": "fraud_detection",
            "entity_rows": [{"user_id": 1, "merchant_id": 7}, {"user_id": 2, "merchant_id": 99}],
        },
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    meta = data["metadata"]
    assert meta["feature_names"] == FRAUD_ORDER
    assert meta["service"] == "fraud_detection" and meta["service_version"] == 1
    assert reply.headers["x-request-id"] == data["request_id"]
    first, second = data["results"]
    assert first["entity"] == {"user_id": 1, "merchant_id": 7}
    assert first["values"] == [10.0, 20.0, 4, 100, "DE", "travel", 0.25, 0.5]
    assert first["statuses"] == ["present"] * 8
    stamp = EVENT.isoformat().replace("+00:00", "Z")
    assert first["event_timestamps"] == [stamp] * 8
    served = datetime.fromisoformat(meta["served_at"])
    assert first["ages_seconds"][0] == pytest.approx((served - EVENT).total_seconds())
    # user 2 has a null country; merchant 99 has no online row at all.
    assert second["values"][:5] == [10.0, 30.0, 9, 200, None]
    assert second["statuses"] == ["present"] * 4 + ["null_value"] + ["not_found"] * 3
    assert second["event_timestamps"][5:] == [None] * 3


def test_client_returns_the_same_vectors_as_the_in_process_store(
    server: Any, store: FeatureStore
) -> None:
    rows = [{"user_id": 1, "merchant_id": 7}, {"user_id": 3, "merchant_id": 7}]
    local = store.get_online_features(feature_service="fraud_detection", entity_rows=rows)
    with Client(server.url) as client:
        remote = client.get_online_features(feature_service="fraud_detection", entity_rows=rows)
    assert remote.to_vector() == local.to_vector()
    assert remote.to_dict() == local.to_dict()
    assert remote.statuses == local.statuses
    assert remote.event_timestamps == local.event_timestamps
    assert remote.statuses[1][0] is FeatureStatus.NOT_FOUND
    assert remote.service_version == 1


def test_feast_request_gets_feasts_column_wise_answer(server: Any) -> None:
    reply = post(
        server,
        {
            "features": ["user_transaction_stats:txn_count_7d", "merchant_risk:risk_score"],
            "entities": {"user_id": [1, 5], "merchant_id": [7, 7]},
            "full_feature_names": False,
        },
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["metadata"]["feature_names"] == [
        "user_id",
        "merchant_id",
        "txn_count_7d",
        "risk_score",
    ]
    user_col, merchant_col, count_col, risk_col = data["results"]
    assert user_col == {
        "values": [1, 5],
        "statuses": ["PRESENT", "PRESENT"],
        "event_timestamps": ["1970-01-01T00:00:00Z"] * 2,
    }
    assert merchant_col["values"] == [7, 7]
    assert count_col["values"] == [4, None]
    assert count_col["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert count_col["event_timestamps"][1] == "1970-01-01T00:00:00Z"
    assert risk_col["values"] == [0.5, 0.5]


def test_feast_feature_service_with_full_feature_names(server: Any) -> None:
    reply = post(
        server,
        {"feature_service": "live", "entities": {"user_id": [1]}, "full_feature_names": True},
    )
    # Pins of a service keep their own output names; full names apply to feature lists.
    assert reply.status_code == 200, reply.text
    reply = post(
        server,
        {
            "features": ["user_live:txn_count"],
            "entities": {"user_id": [1]},
            "full_feature_names": True,
        },
    )
    assert reply.json()["metadata"]["feature_names"] == ["user_id", "user_live__txn_count"]


def test_generous_deadline_serves_every_value(server: Any) -> None:
    reply = post(
        server,
        {
            "feature_service": "fraud_detection",
            "entity_rows": [{"user_id": 1, "merchant_id": 7}],
            "deadline_ms": 2000,
        },
    )
    assert reply.json()["results"][0]["statuses"] == ["present"] * 8


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "expected a JSON object, got a JSON list"),
        (b"", 400, "body is empty"),
        ({"feature_servce": "x", "entity_rows": [{}]}, 400, "Did you mean 'feature_service'?"),
        (
            {
                "feature_service": "fraud_detection",
                "features": ["a:b"],
                "entity_rows": [{"user_id": 1}],
            },
            400,
            "exactly one",
        ),
        (
            {"feature_service": "fraud_detecton", "entity_rows": [{"user_id": 1}]},
            404,
            "Did you mean 'fraud_detection'?",
        ),
        (
            {"features": ["user_live:nope"], "entity_rows": [{"user_id": 1}]},
            404,
            "has no feature 'nope'",
        ),
        (
            {"features": ["usr_live:txn_count"], "entity_rows": [{"user_id": 1}]},
            404,
            "Did you mean 'user_live'?",
        ),
        (
            {"feature_service": "live", "entity_rows": [{"user_id": "1"}]},
            422,
            "join key 'user_id' is '1' (str); it is an int64 key",
        ),
        ({"feature_service": "live", "entity_rows": [{"user_id": True}]}, 422, "is True (bool)"),
        (
            {"feature_service": "live", "entity_rows": [{"usr_id": 1}]},
            422,
            "has no join key 'user_id'",
        ),
        ({"feature_service": "live", "entity_rows": []}, 400, "no entities"),
        (
            {"feature_service": "live", "entities": {"user_id": [1, 2], "x": [1]}},
            400,
            "differ in length",
        ),
        ({"feature_service": "live", "entity_rows": [{"user_id": 1}] * 1001}, 413, "limit is 1000"),
        (
            {"feature_service": "live", "entity_rows": [{"user_id": 1}], "deadline_ms": -5},
            400,
            "deadline_ms",
        ),
        (
            {
                "feature_service": "live",
                "entity_rows": [{"user_id": 1}],
                "now": "2026-01-01T00:00:00",
            },
            400,
            "no UTC offset",
        ),
        (
            {
                "feature_service": "live",
                "entity_rows": [{"user_id": 1}],
                "now": "0001-01-01T00:00:00Z",
            },
            400,
            "outside the supported range 1970-01-01 to 9000-01-01",
        ),
        (
            {
                "feature_service": "live",
                "entity_rows": [{"user_id": 1}],
                "now": "2020-01-01T00:00:00Z",
            },
            400,
            "s from the server's clock; the bound is 86400 s",
        ),
    ],
)
def test_bad_input_gets_a_precise_4xx(server: Any, body: Any, status: int, fragment: str) -> None:
    if isinstance(body, bytes):
        reply = httpx.post(f"{server.url}/get-online-features", content=body)
    else:
        reply = post(server, body)
    assert reply.status_code == status, reply.text
    assert fragment in reply.json()["error"]["message"]


def test_oversized_body_is_refused_before_it_is_read(store: FeatureStore) -> None:
    from .conftest import serve

    with serve(store, max_request_bytes=200) as live:
        big = {"feature_service": "live", "entity_rows": [{"user_id": i} for i in range(100)]}
        reply = httpx.post(f"{live.url}/get-online-features", json=big)
        assert reply.status_code == 413
        assert "limit is 200 (server.max_request_bytes)" in reply.json()["error"]["message"]

        def chunks() -> Any:
            yield b'{"feature_service": "live", "entity_rows": ['
            for _ in range(50):
                yield b'{"user_id": 1},'

        streamed = httpx.post(f"{live.url}/get-online-features", content=chunks())
        assert streamed.status_code == 413


def test_registry_endpoints(server: Any) -> None:
    views = httpx.get(f"{server.url}/registry/views").json()["views"]
    assert {v["name"] for v in views} >= {"user_live", "merchant_risk"}
    assert views[0]["versions"][0]["state"] == "serving"
    one = httpx.get(f"{server.url}/registry/views/user_live").json()
    assert one["versions"][0]["spec"]["source"]["name"] == "txn_push"
    missing = httpx.get(f"{server.url}/registry/views/user_lve")
    assert missing.status_code == 404
    assert "Did you mean 'user_live'?" in missing.json()["error"]["message"]
    services = httpx.get(f"{server.url}/registry/services").json()["services"]
    fraud = next(s for s in services if s["name"] == "fraud_detection")
    assert [f["output_name"] for f in fraud["versions"][0]["features"]] == FRAUD_ORDER


def test_health_and_ready(server: Any) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"registry": "ok", "online_store": "ok"}


def test_unknown_paths_and_methods_answer_json(server: Any) -> None:
    missing = httpx.get(f"{server.url}/get-features")
    assert missing.status_code == 404
    assert "Endpoints: /get-online-features" in missing.json()["error"]["message"]
    wrong = httpx.get(f"{server.url}/get-online-features")
    assert wrong.status_code == 405
    assert "GET is not allowed on /get-online-features" in wrong.json()["error"]["message"]


def test_caller_request_id_is_kept_and_an_oversized_one_replaced(server: Any) -> None:
    body = {"feature_service": "live", "entity_rows": [{"user_id": 1}]}
    kept = post(server, body, headers={"x-request-id": "abc-123"})
    assert kept.json()["request_id"] == "abc-123" == kept.headers["x-request-id"]
    replaced = post(server, body, headers={"x-request-id": "x" * 500})
    assert len(replaced.json()["request_id"]) == 32
