"""A private Redis killed, frozen (SIGSTOP) or wiped: 503 fast or a correct answer,
/ready says so, serving recovers by itself. Never the shared Redis.

Also the per-request deadline: while Redis is paused, a read with ``deadline_ms`` answers
on time with ``deadline_exceeded`` statuses instead of hanging.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import redis

from parity import FeatureStore
from parity.retrieval.reading import COOLDOWN_SECONDS

from ..integration.serve.conftest import RedisServer, push_body, server_seconds
from .conftest import metric

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
        before = server_seconds(url, "/get-online-features")
        sent = time.monotonic()
        down = httpx.post(f"{url}/get-online-features", json=LIVE)
        again = httpx.post(f"{url}/get-online-features", json=LIVE)
        gap = time.monotonic() - sent
        after = server_seconds(url, "/get-online-features")
        assert down.status_code == 503 and again.status_code == 503
        # A refused connection never waits for the 2 s timeout (measured by the server).
        assert after[0] - before[0] == 2 and after[1] - before[1] < 1.0
        error = down.json()["error"]
        assert error["type"] == "OnlineStoreUnavailable"
        assert f"Redis online store unreachable at {private_redis.url}" in error["message"]
        if gap < COOLDOWN_SECONDS:  # else the second read was, rightly, a new trial
            assert "Failing fast since the last failure" in again.json()["error"]["message"]
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
        assert 'parity_online_store_errors_total{operation="/get-online-features"} 2.0' in errors

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


def test_a_frozen_redis_costs_one_online_timeout_once_and_health_never_waits_longer(
    make_repo: Any, live_server: Any, private_redis: RedisServer
) -> None:
    """SIGSTOP: connections are accepted, nothing answers. The first read pays the
    configured timeout once (no retry on a fresh connection), later reads fail fast while
    trials run in a thread, and /health answers throughout. Each read's time is the
    server's own measurement; the slack (half a timeout) separates "once" from "twice"."""
    timeout = 2.0
    store = _repo(make_repo, private_redis, timeout=str(timeout))
    with live_server(store) as live:
        url = live.url
        assert httpx.post(f"{url}/push", json=push_body(1, 9.5)).status_code == 200
        assert httpx.post(f"{url}/get-online-features", json=LIVE).status_code == 200
        health_took: list[float] = []

        def health_during_the_first_read() -> None:
            time.sleep(0.3)
            started = time.monotonic()
            assert httpx.get(f"{url}/health", timeout=30).status_code == 200
            health_took.append(time.monotonic() - started)

        def read_seconds() -> float:
            before = server_seconds(url, "/get-online-features")
            reply = httpx.post(f"{url}/get-online-features", json=LIVE, timeout=30)
            after = server_seconds(url, "/get-online-features")
            assert reply.status_code == 503, reply.text
            assert after[0] - before[0] == 1
            return after[1] - before[1]

        private_redis.freeze()
        try:
            prober = threading.Thread(target=health_during_the_first_read)
            prober.start()
            first = read_seconds()
            prober.join(timeout=30)
            later = []
            for _ in range(5):
                later.append(read_seconds())
                assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        finally:
            private_redis.thaw()
        assert timeout * 0.9 <= first < timeout * 1.5, first  # once, not twice
        assert max(later) < timeout * 0.5, later  # failing fast, no timeout waited
        # /health, sent while the first read waited, waited at most that one timeout.
        assert health_took and health_took[0] < timeout * 1.5, health_took
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
        before = server_seconds(url, "/get-online-features")
        private_redis.freeze()  # until thawed, however long the reads below take
        try:
            reply = httpx.post(f"{url}/get-online-features", json={**LIVE, "deadline_ms": 50})
            feast = httpx.post(
                f"{url}/get-online-features",
                json={"feature_service": "live", "entities": {"user_id": [1]}, "deadline_ms": 50},
            )
            after = server_seconds(url, "/get-online-features")
        finally:
            private_redis.thaw()
        assert reply.status_code == 200, reply.text
        # Server-side: two 50 ms deadlines plus slack, far under the 2 s store timeout.
        assert after[0] - before[0] == 2 and after[1] - before[1] < 1.0
        result = reply.json()["results"][0]
        assert result["statuses"] == ["deadline_exceeded", "deadline_exceeded"]
        assert result["values"] == [None, None]
        assert feast.json()["results"][1]["statuses"] == ["INVALID"]
        # Thawed: the same request completes in time again.
        until = time.monotonic() + 10
        while True:
            reply = httpx.post(f"{url}/get-online-features", json={**LIVE, "deadline_ms": 1000})
            statuses = reply.json()["results"][0]["statuses"]
            if "deadline_exceeded" not in statuses or time.monotonic() > until:
                break
            time.sleep(0.1)
        assert statuses == ["present", "null_value"]
        assert reply.json()["results"][0]["values"] == [9.5, None]


def test_a_wiped_redis_serves_not_found_and_counts_it(
    make_repo: Any, live_server: Any, private_redis: RedisServer
) -> None:
    store = _repo(make_repo, private_redis)
    with live_server(store) as live:
        url = live.url
        assert httpx.post(f"{url}/push", json=push_body(1, 9.5)).status_code == 200
        assert httpx.post(f"{url}/get-online-features", json=LIVE).json()["results"][0][
            "statuses"
        ] == ["present", "null_value"]
        admin = redis.Redis.from_url(private_redis.url)
        try:
            admin.flushall()
        finally:
            admin.close()
        reply = httpx.post(f"{url}/get-online-features", json=LIVE)
        assert reply.status_code == 200
        assert reply.json()["results"][0]["statuses"] == ["not_found", "not_found"]
        assert reply.json()["results"][0]["values"] == [None, None]
        assert httpx.get(f"{url}/ready").status_code == 200  # the store answers: empty
        text = httpx.get(f"{url}/metrics").text
        assert metric(text, "parity_served_values_total", status="not_found") == 2
