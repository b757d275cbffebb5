"""Stream tests against the real Redis and NATS JetStream servers.

NATS tests skip on a laptop without the server and fail under ``CI=true``, like every
other service fixture (``require_service`` in tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import parity as p
from parity.definitions import Aggregation

NATS_URL = os.environ.get("PARITY_TEST_NATS_URL", "nats://127.0.0.1:4222")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
TXN_STATS = p.FeatureView(
    "txn_stats",
    entities=[USER],
    source=p.DeltaSource("data/txns", timestamp_field="ts"),
    aggregations=[
        Aggregation("amount", "count", timedelta(minutes=10), name="txns_10m"),
        Aggregation("amount", "sum", timedelta(hours=1), name="spend_1h"),
        Aggregation("amount", "mean", timedelta(minutes=30), name="avg_30m"),
        Aggregation("amount", "max", timedelta(hours=2), name="max_2h"),
        Aggregation("amount", "last", timedelta(days=1), name="last_1d"),
        Aggregation(
            "merchant", "count_distinct", timedelta(hours=1), dtype="string", name="merchants_1h"
        ),
    ],
)


@pytest.fixture
def nats_url() -> str:
    """URL of the real NATS server with JetStream (skip on a laptop, fail under CI)."""
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1.0):
            pass
    except OSError:
        reason = "NATS is not reachable at 127.0.0.1:4222"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
        pytest.skip(reason)
    return NATS_URL


@pytest.fixture
def stream_repo(tmp_path: Path, redis_url: str, unique_prefix: str) -> Iterator[Path]:
    """A repository with ``txn_stats`` applied; online values in Redis under a unique prefix."""
    (tmp_path / "parity.yaml").write_text(
        f"project: {unique_prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {unique_prefix}}}\n"
    )
    with p.FeatureStore(tmp_path) as store:
        store.apply([USER, TXN_STATS], message="stream tests")
    yield tmp_path
    import redis

    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{unique_prefix}*", f"parity:stream:{unique_prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()
