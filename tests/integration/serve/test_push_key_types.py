"""``/push`` join keys follow the same typed rule as reads (one function for both):
``true``, ``"0x10"``, ``"777002"`` and ``5.0`` are refused for an Int64 key with 422
naming the field and the value, and nothing is written.

Before this rule, pushes coerced them (``true`` became user 1, ``"0x10"`` user 16).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from deltalake import DeltaTable

from parity import FeatureStore

RECENT = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()


def offline_count(store: FeatureStore) -> int:
    path = store.repo_path / "data" / "txn_events"
    if not DeltaTable.is_deltatable(str(path)):
        return 0
    return DeltaTable(str(path)).to_pyarrow_table().num_rows


@pytest.mark.parametrize("key", [True, "0x10", "777002", 5.0])
def test_a_push_refuses_a_join_key_a_read_refuses(
    store: FeatureStore, live_server: Any, key: Any
) -> None:
    before = offline_count(store)
    row = {"user_id": key, "last_amount": 1.0, "txn_count": 1, "event_timestamp": RECENT}
    with live_server(store) as live:
        pushed = httpx.post(
            f"{live.url}/push", json={"push_source_name": "txn_push", "rows": [row]}
        )
        assert pushed.status_code == 422, pushed.text
        error = pushed.json()["error"]
        assert error["type"] == "SchemaMismatch"
        assert "'user_id'" in error["message"] and repr(key) in error["message"]
        read = httpx.post(
            f"{live.url}/get-online-features",
            json={"features": ["user_live:last_amount"], "entity_rows": [{"user_id": key}]},
        )
        assert read.status_code == 422
        assert (
            read.json()["error"]["message"].split(": ", 1)[1] == error["message"].split(": ", 1)[1]
        )
    assert offline_count(store) == before
