"""A private Redis that goes away and comes back: 503 fast, /ready says so, serving recovers.

Also the per-request deadline: while Redis is paused, a read with ``deadline_ms`` answers
on time with ``deadline_exceeded`` statuses instead of hanging.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import redis

from parity import FeatureStore

from .conftest import RedisServer, push_body

LIVE = {"feature_service": "live", "entity_rows": [{"user_id": 1}]}


def _repo(make_repo: Any, private_redis: RedisServer, timeout: str = "2") -> FeatureStore:
    store: FeatureStore = make_repo(
        environ={
            "PARITY__ONLINE_STORE__TYPE": "redis",
            "PARITY__ONLINE_STORE__URL": private_redis.url,
            "PARITY__ONLINE_STORE__KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            "PARITY__ONLINE_STORE__TIMEOUT_SECONDS": timeout,
        }
    )
    return store


def test_redis_down_is_503_fast_and_serving_recovers_when_it_returns(
    make_repo: Any, live_server: Any, private_redis: RedisServer
) -> None:
    store = _repo(make_repo, private_redis)
    with live_server(store) as live:
        url = live.url
        assert httpx.post(f"{url}/push", json=push_body(1, 9.5)).status_code == 200
        assert (
            httpx.post(f"{url}/get-online-features", json=LIVE).json()["results"][0]["values"][0]
            == 9.5
        )

        private_redis.stop()
        started = time.monotonic()
        down = httpx.post(f"{url}/get-online-features", json=LIVE)
        assert time.monotonic() - started < 1.0
        assert down.status_code == 503
        error = down.json()["error"]
        assert error["type"] == "OnlineStoreUnavailable"
        assert f"Redis online store unreachable at {private_redis.url}" in error["message"]
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["registry"] == "ok"
        assert ready.json()["checks"]["online_store"].startswith("unavailable: Redis online store")
        assert httpx.get(f"{url}/health").status_code == 200
        offline_before = _offline_version(store)
        pushed = httpx.post(f"{url}/push", json=push_body(2, 1.0))
        assert pushed.status_code == 503  # probed before anything is written
        assert _offline_version(store) == offline_before
        errors = httpx.get(f"{url}/metrics").text
        assert 'parity_online_store_errors_total{operation="/get-online-features"} 1.0' in errors

        again = httpx.post(f"{url}/get-online-features", json=LIVE)
        assert again.status_code == 503
        assert "Failing fast since the last failure" in again.json()["error"]["message"]

        private_redis.start()  # an empty Redis: the values are gone, the service is not
        assert httpx.get(f"{url}/ready").status_code == 200
        back = _until_ok(url)
        assert back.json()["results"][0]["statuses"][0] == "not_found"
        assert httpx.post(f"{url}/push", json=push_body(1, 3.0)).status_code == 200
        assert (
            httpx.post(f"{url}/get-online-features", json=LIVE).json()["results"][0]["values"][0]
            == 3.0
        )


def _until_ok(url: str, within: float = 3.0) -> httpx.Response:
    """Serving recovers by itself: the first 200 within ``within`` seconds."""
    until = time.monotonic() + within
    while True:
        reply = httpx.post(f"{url}/get-online-features", json=LIVE)
        if reply.status_code == 200 or time.monotonic() > until:
            return reply
        time.sleep(0.05)


def test_a_hung_redis_never_blocks_the_event_loop_for_long(
    make_repo: Any, live_server: Any, private_redis: RedisServer
) -> None:
    store = _repo(make_repo, private_redis, timeout="0.3")
    with live_server(store) as live:
        url = live.url
        assert httpx.post(f"{url}/push", json=push_body(1, 9.5)).status_code == 200
        admin = redis.Redis.from_url(private_redis.url)
        admin.execute_command("CLIENT", "PAUSE", "2000", "ALL")  # Redis hangs for 2 s
        try:
            first = httpx.post(f"{url}/get-online-features", json=LIVE)
            assert first.status_code == 503  # after the store's 0.3 s timeout
            started = time.monotonic()
            for _ in range(5):
                assert httpx.post(f"{url}/get-online-features", json=LIVE).status_code == 503
                assert httpx.get(f"{url}/health").status_code == 200
            assert time.monotonic() - started < 0.5  # fail fast; trials run in a thread
        finally:
            admin.close()
        back = _until_ok(url, within=5.0)
        assert back.status_code == 200
        assert back.json()["results"][0]["values"][0] == 9.5


def _offline_version(store: FeatureStore) -> int | None:
    from deltalake import DeltaTable

    path = str(store.repo_path / "data" / "txn_events")
    return DeltaTable(path).version() if DeltaTable.is_deltatable(path) else None


def test_deadline_returns_what_is_ready_instead_of_timing_out(
    make_repo: Any, live_server: Any, private_redis: RedisServer
) -> None:
    store = _repo(make_repo, private_redis)
    with live_server(store) as live:
        url = live.url
        assert httpx.post(f"{url}/push", json=push_body(1, 9.5)).status_code == 200
        admin = redis.Redis.from_url(private_redis.url)
        admin.execute_command("CLIENT", "PAUSE", "800", "ALL")
        try:
            started = time.monotonic()
            reply = httpx.post(f"{url}/get-online-features", json={**LIVE, "deadline_ms": 50})
            elapsed = time.monotonic() - started
            feast = httpx.post(
                f"{url}/get-online-features",
                json={"feature_service": "live", "entities": {"user_id": [1]}, "deadline_ms": 50},
            )
        finally:
            admin.close()
        assert reply.status_code == 200, reply.text
        assert elapsed < 0.5
        result = reply.json()["results"][0]
        assert result["statuses"] == ["deadline_exceeded", "deadline_exceeded"]
        assert result["values"] == [None, None]
        assert feast.json()["results"][1]["statuses"] == ["INVALID"]
        time.sleep(0.9)  # the pause ends; the same request now completes in time
        reply = httpx.post(f"{url}/get-online-features", json={**LIVE, "deadline_ms": 1000})
        assert reply.json()["results"][0]["statuses"] == ["present", "null_value"]
        assert reply.json()["results"][0]["values"] == [9.5, None]
