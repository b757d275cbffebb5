"""A deadline serves what is ready: the fast views' values, ``deadline_exceeded`` for the rest.

Deterministic on a loaded machine: the slow view's read waits on an Event that is set only
after the answer arrived, so it can never make the deadline; the fast views have a
generous one (2 s) for reads that take milliseconds. The store underneath is real.
"""

from __future__ import annotations

from typing import Any

import httpx

from parity import FeatureStore

from .online_faults import HeldReads

SERVICE = {"feature_service": "fraud_detection", "entity_rows": [{"user_id": 1, "merchant_id": 7}]}
FAST = {"amount_mean_7d": 10.0, "amount_max_7d": 20.0, "txn_count_7d": 4, "account_age_days": 100}
SLOW = ("category", "chargeback_rate", "risk_score")


def test_a_slow_view_is_deadline_exceeded_while_the_fast_views_are_served(
    make_repo: Any, backend: Any, live_server: Any
) -> None:
    store: FeatureStore = make_repo(environ=backend.environ)
    held = HeldReads(store.online_store, "merchant_risk")
    store.online_store = held  # type: ignore[misc]
    # Two held reads at most (one per request) leave the fast views two threads.
    with live_server(store, read_threads=4) as live:
        try:
            reply = httpx.post(
                f"{live.url}/get-online-features", json={**SERVICE, "deadline_ms": 2000}
            )
            feast = httpx.post(
                f"{live.url}/get-online-features",
                json={
                    "feature_service": "fraud_detection",
                    "entities": {"user_id": [1], "merchant_id": [7]},
                    "deadline_ms": 2000,
                },
            )
        finally:
            held.release.set()
        assert held.held.is_set()  # the slow view's read really was in flight
        assert reply.status_code == 200, reply.text
        names = reply.json()["metadata"]["feature_names"]
        [result] = reply.json()["results"]
        got = dict(zip(names, zip(result["values"], result["statuses"], strict=True), strict=True))
        for name, value in FAST.items():
            assert got[name] == (value, "present"), name
        assert got["country"] == ("DE", "present")
        for name in SLOW:
            assert got[name] == (None, "deadline_exceeded"), name
        slow = [i for i, n in enumerate(names) if n in SLOW]
        assert all(result["event_timestamps"][i] is None for i in slow)

        assert feast.status_code == 200, feast.text
        columns = feast.json()["metadata"]["feature_names"]
        results = feast.json()["results"]
        statuses = {n: r["statuses"][0] for n, r in zip(columns, results, strict=True)}
        assert {statuses[n] for n in SLOW} == {"INVALID"}
        assert statuses["amount_mean_7d"] == "PRESENT"

        # Released, the same request serves every view in time.
        again = httpx.post(f"{live.url}/get-online-features", json={**SERVICE, "deadline_ms": 2000})
        [result] = again.json()["results"]
        values = dict(zip(names, result["values"], strict=True))
        assert (values["category"], values["chargeback_rate"]) == ("travel", 0.25)
        assert "deadline_exceeded" not in result["statuses"]
