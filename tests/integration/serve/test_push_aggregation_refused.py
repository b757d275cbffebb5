"""A push never writes raw events as the values of an aggregation view.

An aggregation view's online values are computed by the stream processor from raw events.
A push whose source feeds a live aggregation view version with no stream configured for
the source, or that also feeds a plain view, is refused (422 over HTTP, ``SchemaMismatch``
in process and from ``Client.push``) before anything is written: not the Delta batch
table, not the quarantine, not the online store (values or push ledger), and not the plain
views the same push source also feeds.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from deltalake import DeltaTable

from parity import Client, FeatureStore
from parity.config import load_config
from parity.errors import SchemaMismatch
from parity.online.base import ReadRequest, ViewTable
from parity.scaffold import init_repo

from .conftest import REDIS_URL, Backend, serve

# One push source feeding a plain view and an aggregation view.
MIXED_VIEWS = """
from datetime import timedelta

from features import user
from parity import DeltaSource, FeatureView, Field, Float64, Int64, PushSource
from parity.definitions import Aggregation

txn_push = PushSource(
    "txn_push", batch_source=DeltaSource("data/txn_events", timestamp_field="event_timestamp")
)
user_live = FeatureView(
    "user_live",
    entities=[user],
    schema=[Field("amount", Float64, nullable=False, min_value=0), Field("txn_count", Int64)],
    source=txn_push,
    ttl=timedelta(days=1),
)
user_spend = FeatureView(
    "user_spend",
    entities=[user],
    source=txn_push,
    ttl=timedelta(days=1),
    aggregations=[Aggregation("amount", "sum", timedelta(hours=1), name="spend_1h")],
)
"""
# The same push source feeding only the aggregation view.
AGGREGATION_VIEWS = """
from datetime import timedelta

from features import user
from parity import DeltaSource, FeatureView, PushSource
from parity.definitions import Aggregation

txn_push = PushSource(
    "txn_push", batch_source=DeltaSource("data/txn_events", timestamp_field="event_timestamp")
)
user_spend = FeatureView(
    "user_spend",
    entities=[user],
    source=txn_push,
    ttl=timedelta(days=1),
    aggregations=[Aggregation("amount", "sum", timedelta(hours=1), name="spend_1h")],
)
"""
EVENT = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat()
ROWS: list[dict[str, Any]] = [
    {"user_id": 1, "amount": 10.5, "event_timestamp": EVENT},
    {"user_id": 2, "amount": 20.0, "event_timestamp": EVENT},
    # would be quarantined by user_live (amount < 0) if the push were applied
    {"user_id": 3, "amount": -1.0, "event_timestamp": EVENT},
]


def build(root: Path, backend: Backend, views: str) -> FeatureStore:
    init_repo(root, project="t", rows=100)
    (root / "push_features.py").write_text(views)
    store = FeatureStore(root, config=load_config(root, environ=backend.environ))
    store.apply(message="views over one push source")
    for record in store.list_feature_views():
        if record.ref.startswith(("user_live", "user_spend")):
            store.promote(record.ref, message="test", force=True)
    return store


@pytest.fixture
def repo(backend: Backend, tmp_path: Path) -> Iterator[FeatureStore]:
    """``txn_push`` feeds only the aggregation view ``user_spend``; no stream configured."""
    store = build(tmp_path / "repo", backend, AGGREGATION_VIEWS)
    yield store
    store.close()


@pytest.fixture
def mixed_repo(backend: Backend, tmp_path: Path) -> Iterator[FeatureStore]:
    """``txn_push`` feeds the plain ``user_live`` and the aggregation ``user_spend``."""
    store = build(tmp_path / "repo", backend, MIXED_VIEWS)
    yield store
    store.close()


def online_footprint(store: FeatureStore, backend: Backend) -> Any:
    """Everything the online store holds: Redis keys under the prefix, or SQLite rows."""
    if backend.name == "redis":
        import redis

        prefix = backend.environ["PARITY__ONLINE_STORE__KEY_PREFIX"]
        client = redis.Redis.from_url(REDIS_URL)
        try:
            return sorted(client.scan_iter(match=f"{prefix}:*", count=1000))
        finally:
            client.close()
    path = store.repo_path / "data" / "online.db"
    if not path.exists():
        return {}
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT * FROM "{n}"').fetchall() for n in sorted(names)}
    finally:
        conn.close()


def assert_nothing_written(store: FeatureStore, backend: Backend, before: Any) -> None:
    data = store.repo_path / "data"
    assert not DeltaTable.is_deltatable(str(data / "txn_events"))
    assert not (data / "offline" / "quarantine").exists() or not any(
        (data / "offline" / "quarantine").iterdir()
    )
    live = {record.ref for record in store.list_feature_views()}
    assert "user_spend@v1" in live, live
    for ref in sorted({"user_live@v1", "user_spend@v1"} & live):
        table = ViewTable.from_view(store.get_feature_view(ref), project="t", version=1)
        [rows] = store.online_store.read([ReadRequest(table, [(1,), (2,), (3,)])])
        assert rows == [None, None, None], ref
    assert online_footprint(store, backend) == before


def check_message(message: str) -> None:
    assert "'txn_push'" in message
    assert "user_spend@v1" in message
    assert "user_live" not in message  # only the aggregation versions are named
    assert "parity stream run user_spend" in message
    assert "server.push.streams.txn_push" in message
    assert "nothing was written" in message


@pytest.mark.parametrize("to", ["online_and_offline", "online", "offline"])
def test_push_to_a_source_feeding_an_aggregation_view_is_refused_in_process(
    repo: FeatureStore, backend: Backend, to: str
) -> None:
    before = online_footprint(repo, backend)
    with pytest.raises(SchemaMismatch) as refused:
        repo.push("txn_push", ROWS, to=to, push_id=f"p-{uuid.uuid4().hex}")
    check_message(str(refused.value))
    assert_nothing_written(repo, backend, before)


def test_push_to_a_source_feeding_an_aggregation_view_is_a_422_over_http(
    repo: FeatureStore, backend: Backend
) -> None:
    before = online_footprint(repo, backend)
    with serve(repo) as server:
        reply = httpx.post(
            f"{server.url}/push",
            json={"push_source_name": "txn_push", "rows": ROWS, "push_id": "order-1"},
        )
        assert reply.status_code == 422, reply.text
        error = reply.json()["error"]
        assert error["type"] == "SchemaMismatch"
        check_message(error["message"])
        # A retry with the same push id is refused the same way, and still writes nothing.
        with Client(server.url) as client, pytest.raises(SchemaMismatch) as refused:
            client.push("txn_push", ROWS, push_id="order-1")
        assert str(refused.value) == error["message"]
    assert_nothing_written(repo, backend, before)


def test_a_source_feeding_a_plain_and_an_aggregation_view_is_refused(
    mixed_repo: FeatureStore, backend: Backend
) -> None:
    """The stream's appender keeps only the aggregation inputs: the plain view's columns
    would be lost offline, or (appended by the push too) each event held twice."""
    before = online_footprint(mixed_repo, backend)
    with pytest.raises(SchemaMismatch) as refused:
        mixed_repo.push("txn_push", ROWS, push_id="mixed-1")
    message = str(refused.value)
    assert "user_spend@v1" in message and "user_live@v1" in message
    assert "separate push sources" in message and "nothing was written" in message
    assert_nothing_written(mixed_repo, backend, before)


@pytest.fixture
def streamed_repo(backend: Backend, tmp_path: Path) -> Iterator[tuple[FeatureStore, str]]:
    """``txn_push`` feeds only ``user_spend`` and has a stream on the real Redis."""
    import redis

    stream = f"parity_test_{uuid.uuid4().hex[:12]}_txns"
    environ = {
        **backend.environ,
        "PARITY__SERVER__PUSH__STREAMS__TXN_PUSH__URL": REDIS_URL,
        "PARITY__SERVER__PUSH__STREAMS__TXN_PUSH__STREAM": stream,
        "PARITY__SERVER__PUSH__STREAMS__TXN_PUSH__PARTITIONS": "2",
    }
    store = build(tmp_path / "repo", Backend(backend.name, environ), AGGREGATION_VIEWS)
    yield store, stream
    store.close()
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{stream}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_push_over_http_publishes_the_valid_rows_to_the_configured_stream_once(
    streamed_repo: tuple[FeatureStore, str],
) -> None:
    import redis

    store, stream = streamed_repo
    naive = {"user_id": 4, "amount": 1.0, "event_timestamp": "2026-06-01T00:00:00"}
    body = {"push_source_name": "txn_push", "rows": [*ROWS, naive], "push_id": "order-9"}
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with serve(store) as server:
            reply = httpx.post(f"{server.url}/push", json=body)
            assert reply.status_code == 200, reply.text
            answer = reply.json()
            assert answer["streams"] == {stream: 3} and answer["rows_written"] == 3
            assert [r["row"] for r in answer["rejected"]] == [3]
            assert answer["online"] == {} and answer["offline"] is None
            retried = httpx.post(f"{server.url}/push", json=body).json()
            assert retried["replayed"] and retried["streams"] == {stream: 3}
        published = [
            orjson.loads(fields[b"e"])
            for q in range(2)
            for _, fields in client.xrange(f"{stream}:{q}")
        ]
    finally:
        client.close()
    assert sorted(e["event_id"] for e in published) == [f"order-9:{i}" for i in range(3)]
    assert not DeltaTable.is_deltatable(str(store.repo_path / "data" / "txn_events"))
