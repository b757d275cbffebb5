"""``/push``: validated, all-or-nothing per row across every live version, quarantined rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from deltalake import DeltaTable

from parity import FeatureStore

from .conftest import PUSH_VIEWS

RECENT = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()


def push(url: str, body: Any) -> httpx.Response:
    return httpx.post(f"{url}/push", json=body)


def read(url: str, feature: str, users: list[int]) -> list[Any]:
    reply = httpx.post(
        f"{url}/get-online-features",
        json={"features": [feature], "entity_rows": [{"user_id": u} for u in users]},
    )
    assert reply.status_code == 200, reply.text
    return [r["values"][0] for r in reply.json()["results"]]


def offline_rows(store: FeatureStore) -> list[dict[str, Any]]:
    path = store.repo_path / "data" / "txn_events"
    if not DeltaTable.is_deltatable(str(path)):
        return []
    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: r["user_id"])


def quarantined(store: FeatureStore) -> list[dict[str, Any]]:
    path = store.repo_path / "data" / "offline" / "quarantine" / "user_live"
    if not DeltaTable.is_deltatable(str(path)):
        return []
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


@pytest.fixture
def repo_with_two_versions(make_repo: Any, backend: Any) -> FeatureStore:
    """user_live@v1 serving (amount >= 0) and user_live@v2 pending (also amount <= 100)."""
    store = make_repo(environ=backend.environ)
    stricter = PUSH_VIEWS.replace(
        'Field("last_amount", Float64, nullable=False, min_value=0)',
        'Field("last_amount", Float64, nullable=False, min_value=0, max_value=100)',
    ).replace("ttl=timedelta(days=1)", "ttl=timedelta(days=2)")
    (store.repo_path / "push_features.py").write_text(stricter)
    store.apply(message="v2: stricter amount, longer ttl")
    states = {r.version: r.state.value for r in store.list_versions("user_live")}
    assert states == {1: "serving", 2: "pending"}
    return store


def test_push_writes_every_live_version_and_the_offline_table_and_quarantines_rejects(
    repo_with_two_versions: FeatureStore, live_server: Any
) -> None:
    store = repo_with_two_versions
    rows = [
        {"user_id": 10, "last_amount": 50.0, "txn_count": 1, "event_timestamp": RECENT},
        # valid for v1, above v2's max_value: rejected as a whole, written nowhere
        {"user_id": 11, "last_amount": 500.0, "txn_count": 2, "event_timestamp": RECENT},
        {"user_id": 12, "last_amount": -1.0, "txn_count": 3, "event_timestamp": RECENT},
        {"user_id": 13, "last_amount": 5.0, "txn_count": 4, "event_timestamp": FUTURE},
    ]
    with live_server(store) as live:
        reply = push(live.url, {"push_source_name": "txn_push", "rows": rows})
        assert reply.status_code == 200, reply.text
        report = reply.json()
        assert (report["rows_received"], report["rows_written"], report["rows_rejected"]) == (
            4,
            1,
            3,
        )
        assert report["online"] == {
            "user_live@v1": {"written": 1, "skipped": 0},
            "user_live@v2": {"written": 1, "skipped": 0},
        }
        reasons = {(r["row"], r["view"]): r["reason"] for r in report["rejected"]}
        assert reasons[(1, "user_live@v2")] == "last_amount=500.0 is above max_value 100"
        assert (1, "user_live@v1") not in reasons
        assert "below min_value 0" in reasons[(2, "user_live@v1")]
        assert "in the future" in reasons[(3, "user_live@v2")]
        users = [10, 11, 12, 13]
        assert read(live.url, "user_live@v1:last_amount", users) == [50.0, None, None, None]
        assert read(live.url, "user_live@v2:last_amount", users) == [50.0, None, None, None]
    offline = offline_rows(store)
    assert [(r["user_id"], r["last_amount"], r["txn_count"]) for r in offline] == [(10, 50.0, 1)]
    quarantine = quarantined(store)
    assert {(q["view_version"], q["operation"]) for q in quarantine} == {(1, "push"), (2, "push")}
    assert any(
        "above max_value 100" in q["reason"] and '"user_id":11' in q["row"].replace(" ", "")
        for q in quarantine
    )


def test_batch_level_errors_write_nothing(store: FeatureStore, live_server: Any) -> None:
    before = offline_rows(store)
    with live_server(store) as live:
        naive = push(
            live.url,
            {
                "push_source_name": "txn_push",
                "rows": [
                    {"user_id": 20, "last_amount": 1.0, "txn_count": 1, "event_timestamp": RECENT},
                    {
                        "user_id": 21,
                        "last_amount": 1.0,
                        "txn_count": 1,
                        "event_timestamp": "2026-01-01T00:00:00",
                    },
                ],
            },
        )
        assert naive.status_code == 400
        assert "no UTC offset" in naive.json()["error"]["message"]
        missing = push(
            live.url,
            {
                "push_source_name": "txn_push",
                "rows": [{"user_id": 22, "txn_count": 1, "event_timestamp": RECENT}],
            },
        )
        assert missing.status_code == 422
        assert "lack column(s) ['last_amount']" in missing.json()["error"]["message"]
        assert read(live.url, "user_live:last_amount", [20, 21, 22]) == [None, None, None]
    assert offline_rows(store) == before


def test_unknown_push_source_and_bad_bodies(store: FeatureStore, live_server: Any) -> None:
    with live_server(store) as live:
        unknown = push(live.url, {"push_source_name": "txn_psh", "rows": [{"user_id": 1}]})
        assert unknown.status_code == 404
        assert "Did you mean 'txn_push'?" in unknown.json()["error"]["message"]
        mode = push(live.url, {"push_source_name": "txn_push", "rows": [{}], "to": "onlin"})
        assert (
            mode.status_code == 400 and "Did you mean 'online'?" in mode.json()["error"]["message"]
        )
        both = push(live.url, {"push_source_name": "txn_push", "rows": [{}], "df": {}})
        assert both.status_code == 400 and "exactly one" in both.json()["error"]["message"]


def test_feast_push_shape_is_accepted(store: FeatureStore, live_server: Any) -> None:
    with live_server(store) as live:
        reply = push(
            live.url,
            {
                "push_source_name": "txn_push",
                "df": {
                    "user_id": [30, 31],
                    "last_amount": [3.5, 4.5],
                    "txn_count": [7, None],
                    "event_timestamp": [RECENT, RECENT],
                },
                "to": "online",
            },
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["offline"] is None  # "to": "online" skips the offline append
        assert read(live.url, "user_live:last_amount", [30, 31]) == [3.5, 4.5]
        assert read(live.url, "user_live:txn_count", [30, 31]) == [7, None]


def test_push_with_every_row_rejected_is_422_with_the_report(
    store: FeatureStore, live_server: Any
) -> None:
    with live_server(store) as live:
        reply = push(
            live.url,
            {
                "push_source_name": "txn_push",
                "rows": [{"user_id": 40, "last_amount": "abc", "event_timestamp": RECENT}],
            },
        )
        assert reply.status_code == 422
        assert reply.json()["rejected"][0]["reason"].startswith(
            "last_amount='abc' is not a float64"
        )


def test_client_push_and_ready(store: FeatureStore, live_server: Any) -> None:
    from parity.client import Client

    with live_server(store) as live, Client(live.url) as client:
        assert client.ready()["ready"] is True
        report = client.push(
            "txn_push",
            [{"user_id": 50, "last_amount": 2.0, "event_timestamp": datetime.now(UTC)}],
            to="online",
        )
        assert report["rows_written"] == 1
        vectors = client.get_online_features(
            features=["user_live:last_amount"], entity_rows=[{"user_id": 50}]
        )
        assert vectors.to_dict() == {"user_id": [50], "last_amount": [2.0]}
