"""Bad push input gets a precise 4xx, never a 500: integers past 64 bits, unknown columns
(refused with their names unless the push asks to drop them)."""

from __future__ import annotations

from typing import Any

import httpx

from parity import FeatureStore

from .conftest import push_body

READ = {"feature_service": "live", "entity_rows": [{"user_id": 5}]}


def test_integers_past_64_bits_are_rejected_rows_not_a_500(
    make_repo: Any, live_server: Any
) -> None:
    store: FeatureStore = make_repo()
    with live_server(store) as live:
        for column, value in (
            ("txn_count", 2**63),
            ("user_id", 2**63),
            ("txn_count", -(2**63) - 1),
        ):
            body = push_body(5, 1.0)
            body["rows"][0][column] = value
            reply = httpx.post(f"{live.url}/push", json=body)
            assert reply.status_code == 422, (column, value, reply.text)
            answer = reply.json()
            assert answer["rows_written"] == 0 and answer["rows_rejected"] == 1
            assert column in answer["rejected"][0]["reason"]
        assert httpx.post(f"{live.url}/get-online-features", json=READ).json()["results"][0][
            "statuses"
        ] == ["not_found", "not_found"]  # nothing was written
    with FeatureStore(store.repo_path) as sdk:
        row = {**push_body(5, 1.0)["rows"][0], "txn_count": -(2**63) - 1}
        assert sdk.push("txn_push", [row]).rows_rejected == 1


def test_unknown_push_columns_are_refused_by_name_unless_the_push_drops_them(
    make_repo: Any, live_server: Any
) -> None:
    store: FeatureStore = make_repo()
    with live_server(store) as live:
        body = push_body(5, 2.5)
        body["rows"][0]["txn_cuont"] = 3
        body["rows"][0]["note"] = "x"
        refused = httpx.post(f"{live.url}/push", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["type"] == "SchemaMismatch"
        assert "unknown column(s) 'txn_cuont', 'note'" in error["message"]
        assert "Did you mean 'txn_count'?" in error["message"]
        assert httpx.post(f"{live.url}/get-online-features", json=READ).json()["results"][0][
            "statuses"
        ] == ["not_found", "not_found"]  # nothing was written
        dropped = httpx.post(f"{live.url}/push", json={**body, "ignore_unknown_columns": True})
        assert dropped.status_code == 200, dropped.text
        assert dropped.json()["rows_written"] == 1
        assert httpx.post(f"{live.url}/get-online-features", json=READ).json()["results"][0][
            "values"
        ] == [2.5, None]
        wrong = httpx.post(f"{live.url}/push", json={**body, "ignore_unknown_columns": "yes"})
        assert wrong.status_code == 400
        assert "ignore_unknown_columns" in wrong.json()["error"]["message"]
    with FeatureStore(store.repo_path) as sdk:
        row = {
            "user_id": 9,
            "last_amount": 1.0,
            "amout": 2,
            "event_timestamp": "2026-01-01T00:00:00Z",
        }
        try:
            sdk.push("txn_push", [row])
        except Exception as exc:  # the SDK refuses the same way
            assert type(exc).__name__ == "SchemaMismatch" and "'amout'" in str(exc)
        else:
            raise AssertionError("the SDK push of an unknown column was accepted")
