"""The feature server never stalls on its registry: PostgreSQL locked, refusing, frozen.

The registry is the real PostgreSQL, reached through a TCP proxy the test controls
(:mod:`.proxy`). Reads are served from cached plans while the registry is away
(stale-while-revalidate), /health and /ready answer at once, /ready stays 200 while the
plans may be served and reports the registry apart, and the operator sees
``parity_registry_up`` 0 and ``parity_serving_plan_age_seconds`` growing. Past
``registry_max_staleness_seconds`` reads answer 503 RegistryUnreachable, and everything
comes back by itself when the registry does. Latencies are the server's own measurements.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from parity import FeatureStore

from ..conftest import POSTGRES_URL
from ..integration.serve.conftest import serve
from .conftest import all_under, metric
from .proxy import TcpProxy

READ = {"features": ["user_transaction_stats:txn_count_7d"], "entity_rows": [{"user_id": 1}]}
READ_BOUND = "0.25"  # seconds (a histogram edge): far under any registry timeout here


def _read(url: str) -> httpx.Response:
    return httpx.post(f"{url}/get-online-features", json=READ, timeout=30)


def _reads_for(url: str, seconds: float) -> list[httpx.Response]:
    """Reads and /health, back to back, for ``seconds`` (at most 2,000 of each)."""
    answers = []
    until = time.monotonic() + seconds
    for _ in range(2000):
        if time.monotonic() > until:
            break
        answers.append(_read(url))
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    return answers


def _until(check: Any, within: float) -> Any:
    """The first truthy ``check()`` within ``within`` seconds (polled every 50 ms)."""
    until = time.monotonic() + within
    while True:
        value = check()
        if value or time.monotonic() > until:
            return value
        time.sleep(0.05)


def _registry_up(url: str) -> float | None:
    return metric(httpx.get(f"{url}/metrics").text, "parity_registry_up")


def _assert_served_fast(url: str, before: tuple[int, int]) -> None:
    within, total = all_under(url, "/get-online-features", READ_BOUND)
    assert total > before[1]
    assert within - before[0] == total - before[1], (within, total, before)
    within, total = all_under(url, "/health", READ_BOUND)
    assert within == total


def test_a_locked_registry_table_never_stalls_reads_health_or_ready(
    registry_repo: FeatureStore, pg_schema: str
) -> None:
    with serve(registry_repo) as live:
        url = live.url
        assert _read(url).json()["results"][0]["values"] == [4]
        before = all_under(url, "/get-online-features", READ_BOUND)
        with psycopg.connect(POSTGRES_URL) as locker:
            locker.execute(f'LOCK TABLE "{pg_schema}".parity_versions IN ACCESS EXCLUSIVE MODE')
            answers = _reads_for(url, 2.5)
            ready = httpx.get(f"{url}/ready", timeout=30)
            text = httpx.get(f"{url}/metrics").text
            locker.rollback()
        assert answers and all(a.status_code == 200 for a in answers)
        assert {tuple(a.json()["results"][0]["values"]) for a in answers} == {(4,)}
        _assert_served_fast(url, before)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["online_store"] == "ok"
        assert ready.json()["checks"]["registry"].startswith("unavailable: ")
        assert "statement timeout" in ready.json()["checks"]["registry"]
        assert metric(text, "parity_registry_up") == 0
        age = metric(text, "parity_serving_plan_age_seconds")
        assert age is not None and age > 1.0
        assert metric(text, "parity_serving_plan_max_staleness_seconds") == 4.0
        assert _until(lambda: _registry_up(url) == 1, within=5.0)


def test_a_frozen_network_path_to_the_registry_never_stalls_the_server(
    registry_repo: FeatureStore, pg_proxy: TcpProxy
) -> None:
    with serve(registry_repo) as live:
        url = live.url
        assert _read(url).status_code == 200
        before = all_under(url, "/get-online-features", READ_BOUND)
        pg_proxy.freeze()
        try:
            answers = _reads_for(url, 2.5)
            ready = httpx.get(f"{url}/ready", timeout=30)
            up = _registry_up(url)
        finally:
            pg_proxy.restore()
        assert answers and all(a.status_code == 200 for a in answers)
        _assert_served_fast(url, before)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["registry"].startswith("unavailable: ")
        assert up == 0
        assert _until(lambda: _registry_up(url) == 1, within=10.0)
        assert _read(url).status_code == 200


def test_a_refusing_registry_is_served_around_until_the_staleness_bound(
    registry_repo: FeatureStore, pg_proxy: TcpProxy
) -> None:
    with serve(registry_repo) as live:
        url = live.url
        assert _read(url).status_code == 200
        pg_proxy.refuse()
        try:
            refused_at = time.monotonic()
            answers = _reads_for(url, 1.5)
            ready = httpx.get(f"{url}/ready", timeout=30)
            assert answers and all(a.status_code == 200 for a in answers)
            assert ready.status_code == 200 and ready.json()["ready"] is True
            assert "unavailable" in ready.json()["checks"]["registry"]
            # Past the 4 s bound the plans are no longer served: a clear 503.
            time.sleep(max(0.0, 4.5 - (time.monotonic() - refused_at)))
            stale = _read(url)
            not_ready = httpx.get(f"{url}/ready", timeout=30)
        finally:
            pg_proxy.restore()
        assert stale.status_code == 503
        error = stale.json()["error"]
        assert error["type"] == "RegistryUnreachable"
        assert "over the 4 s bound (registry_max_staleness_seconds)" in error["message"]
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["serving_plans"].startswith("Cannot reach the registry")
        back = _until(lambda: _read(url).status_code == 200, within=10.0)
        assert back
