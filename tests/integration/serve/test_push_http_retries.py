"""``POST /push`` over HTTP: push ids in and out, replays, 409 on reuse, and
``parity.Client.push`` retrying transient failures with one push id."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from deltalake import DeltaTable

from parity import FeatureStore
from parity.client import Client
from parity.errors import OnlineStoreUnavailable, PushIdConflict

from .conftest import RedisServer
from .online_faults import FaultBeforeFirstWrite

RECENT = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0).isoformat()


def rows(user: int, amount: float) -> list[dict[str, Any]]:
    return [{"user_id": user, "last_amount": amount, "txn_count": 1, "event_timestamp": RECENT}]


def offline(store: FeatureStore) -> tuple[int | None, list[dict[str, Any]]]:
    path = str(store.repo_path / "data" / "txn_events")
    if not DeltaTable.is_deltatable(path):
        return None, []
    table = DeltaTable(path)
    return table.version(), table.to_pyarrow_table().to_pylist()


def read(url: str, user: int) -> Any:
    body = {"features": ["user_live:last_amount"], "entity_rows": [{"user_id": user}]}
    return httpx.post(f"{url}/get-online-features", json=body).json()["results"][0]["values"][0]


def test_push_answers_with_a_generated_push_id_and_a_resend_with_it_is_replayed(
    store: FeatureStore, live_server: Any
) -> None:
    with live_server(store) as live:
        body = {"push_source_name": "txn_push", "rows": rows(60, 6.5)}
        first = httpx.post(f"{live.url}/push", json=body)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert len(answer["push_id"]) == 32 and answer["replayed"] is False
        before = offline(store)

        again = httpx.post(f"{live.url}/push", json={**body, "push_id": answer["push_id"]})
        assert again.status_code == 200
        assert again.json() == {**answer, "replayed": True}
        assert offline(store) == before
        assert read(live.url, 60) == 6.5


def test_reusing_a_push_id_for_other_rows_is_409_naming_the_id(
    store: FeatureStore, live_server: Any
) -> None:
    push_id = f"order-{uuid.uuid4().hex[:8]}"
    with live_server(store) as live:
        body = {"push_source_name": "txn_push", "rows": rows(61, 1.0), "push_id": push_id}
        assert httpx.post(f"{live.url}/push", json=body).status_code == 200
        before = offline(store)
        other = httpx.post(f"{live.url}/push", json={**body, "rows": rows(61, 2.0)})
        assert other.status_code == 409
        error = other.json()["error"]
        assert error["type"] == "PushIdConflict"
        assert f"push_id {push_id!r} was already used for a different push" in error["message"]
        assert offline(store) == before
        assert read(live.url, 61) == 1.0
        bad = httpx.post(f"{live.url}/push", json={**body, "push_id": "has space"})
        assert bad.status_code == 400
        assert "is not a usable idempotency key" in bad.json()["error"]["message"]
        with Client(live.url) as client, pytest.raises(PushIdConflict):
            client.push("txn_push", rows(61, 3.0), push_id=push_id)


def test_client_retries_a_503_between_the_offline_and_online_writes_with_the_same_push_id(
    make_repo: Any, live_server: Any, private_redis: RedisServer
) -> None:
    store: FeatureStore = make_repo(
        environ={
            "PARITY__ONLINE_STORE__TYPE": "redis",
            "PARITY__ONLINE_STORE__URL": private_redis.url,
            "PARITY__ONLINE_STORE__KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            "PARITY__ONLINE_STORE__TIMEOUT_SECONDS": "1",
        }
    )
    # The first write to user_live finds Redis stopped (a real connection failure, so a
    # 503 after the offline commit); Redis is back, empty, before the answer leaves.
    store.online_store = FaultBeforeFirstWrite(  # type: ignore[misc]
        store.online_store, "user_live", private_redis.stop, private_redis.start
    )
    with live_server(store) as live, Client(live.url) as client:
        report = client.push("txn_push", rows(70, 7.5), retries=3, backoff_seconds=0.05)
        assert report["replayed"] is True  # the second attempt finished the first one
        assert report["offline"]["committed_before"] is True
        version, copies = offline(store)
        assert [(r["user_id"], r["last_amount"]) for r in copies] == [(70, 7.5)]
        assert read(live.url, 70) == 7.5
        assert client.push("txn_push", rows(70, 7.5), push_id=report["push_id"]) == {
            **report,
            "replayed": True,
        }
        assert offline(store)[0] == version


def test_client_retries_while_the_server_is_unreachable_and_gives_up_when_told(
    store: FeatureStore, live_server: Any
) -> None:
    server = live_server(store)
    with Client(server.url, timeout=2.0) as client:
        with pytest.raises(OnlineStoreUnavailable, match="unreachable"):
            client.push("txn_push", rows(80, 8.0), retries=0)
        starter = threading.Timer(0.3, server.__enter__)
        starter.start()
        try:
            started = time.monotonic()
            report = client.push("txn_push", rows(80, 8.0), retries=8, backoff_seconds=0.1)
            assert time.monotonic() - started >= 0.3
            assert report["rows_written"] == 1 and report["replayed"] is False
        finally:
            starter.join()
            server.stop()
