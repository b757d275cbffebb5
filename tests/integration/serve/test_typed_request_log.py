"""The typed request log over real HTTP: exact round trip of every value type, one layout
per service version, sampled and dropped rows counted, and the old JSON layout refused."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parity import FeatureStore
from parity.config import load_config
from parity.errors import SchemaMismatch
from parity.monitor.log_layout import find_layouts
from parity.monitor.served import served_window
from parity.online.base import ViewTable
from parity.scaffold import init_repo
from parity.serve.config import RequestLogConfig
from parity.serve.metrics import ServerMetrics
from parity.serve.request_log import RequestLog

from .conftest import EVENT

TYPED_VIEWS = """
from datetime import timedelta

from features import user
from parity import (Array, Bool, Bytes, DeltaSource, FeatureService, FeatureView, Field,
                    Float64, Int64, PushSource, RowTransform, String, Timestamp, Vector)

typed_push = PushSource(
    "typed_push", batch_source=DeltaSource("data/typed_events", timestamp_field="event_timestamp")
)
user_typed = FeatureView(
    "user_typed",
    entities=[user],
    schema=[
        Field("tags", Array(String)), Field("counts", Array(Int64)), Field("active", Bool),
        Field("seen_at", Timestamp), Field("blob", Bytes), Field("emb", Vector(2)),
        Field("note", String), Field("score", Float64),
    ],
    source=typed_push,
    ttl=timedelta(days=1),
)
typed = FeatureService("typed", features=[SELECTION])


def bumped(df):
    return {"score_bumped": df["user_typed:score"] + df["bump"]}


scored = FeatureService(
    "scored",
    features=["user_typed:score"],
    request_schema=[Field("bump", Float64)],
    transforms=[RowTransform("bumping", inputs=["user_typed:score", "bump"],
                             outputs=[Field("score_bumped", Float64)], function=bumped)],
)
"""
SEEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def write_views(root: Path, selection: str) -> None:
    (root / "typed_features.py").write_text(TYPED_VIEWS.replace("SELECTION", selection))


@pytest.fixture(scope="module")
def typed_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    """A repository whose service ``typed`` has two versions: v1 serves every feature of
    ``user_typed``, v2 three of them; users 1 and 2 have online values, 3 has none."""
    root = tmp_path_factory.mktemp("typed") / "repo"
    init_repo(root, project="typed", rows=200)
    write_views(root, "user_typed")
    store = FeatureStore(root, config=load_config(root, environ={}))
    store.apply(message="v1")
    write_views(root, 'user_typed.select("score", "note", "tags")')
    store.apply(message="v2")
    for record in store.list_feature_views():
        store.promote(record.ref, message="test", force=True)
    table = ViewTable.from_view(store.get_feature_view("user_typed"), project="typed", version=1)
    store.online_store.write(
        table,
        pa.table(
            {
                "user_id": pa.array([1, 2], pa.int64()),
                "tags": pa.array([["a", None, "ü"], []], pa.list_(pa.string())),
                "counts": pa.array([[1, -(2**62)], None], pa.list_(pa.int64())),
                "active": [True, None],
                "seen_at": pa.array([SEEN, None], pa.timestamp("us", tz="UTC")),
                "blob": pa.array([b"\x00\xffparity", None], pa.binary()),
                "emb": pa.array([[0.5, -1.25], None], pa.list_(pa.float32(), 2)),
                "note": ["x", None],
                "score": [0.1, None],
                "event_timestamp": pa.array([EVENT, EVENT], pa.timestamp("us", tz="UTC")),
            }
        ),
    )
    yield store
    store.close()


def logged(root: Path) -> dict[tuple[str, int], tuple[dict[str, Any], Any]]:
    """(request id, row) -> (row, layout) over every layout file, each with its own schema."""
    return {
        (row["request_id"], row["row_index"]): (row, stored.layout)
        for stored in find_layouts(root)
        for path in stored.files()
        for row in pq.read_table(path).to_pylist()
    }


def from_json(value: Any, dtype: str) -> Any:
    """A value of the JSON answer as the Arrow type would hold it."""
    if value is None:
        return None
    if dtype == "timestamp":
        return datetime.fromisoformat(value)
    if dtype == "bytes":
        return base64.b64decode(value)
    return value


def test_served_vector_round_trips_exactly_through_the_typed_log(
    typed_store: FeatureStore, live_server: Any
) -> None:
    root = typed_store.offline_path / "request_log"
    rows = [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}]
    with live_server(typed_store, request_log={"flush_interval_seconds": 3600}) as live:
        reply = httpx.post(
            f"{live.url}/get-online-features",
            json={"feature_service": "typed@v1", "entity_rows": rows},
            headers={"x-request-id": "typed-round-trip"},
        )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    names = answer["metadata"]["feature_names"]
    by_key = logged(root)
    for index, result in enumerate(answer["results"]):
        row, layout = by_key[("typed-round-trip", index)]
        dtypes = dict((n, t) for n, t, _ in layout.features)
        assert list(row["features"]) == names
        assert row["features"] == {
            n: from_json(v, dtypes[n]) for n, v in zip(names, result["values"], strict=True)
        }
        assert list(row["statuses"].values()) == result["statuses"]
        stamps = [row["event_timestamps"][layout.views[v]] for _, _, v in layout.features]
        assert stamps == [from_json(s, "timestamp") for s in result["event_timestamps"]]
        assert row["entity"] == rows[index]
        assert row["served_at"] == datetime.fromisoformat(answer["metadata"]["served_at"])
        assert (row["service"], row["service_version"], row["sample_weight"]) == ("typed", 1, 1.0)
    # The declared types, not types inferred from the values.
    schema = pq.read_schema(next(s for s in find_layouts(root)).files()[0])
    features = schema.field("features").type
    assert {features.field(i).name: str(features.field(i).type) for i in range(8)} == {
        "tags": "list<element: string>",
        "counts": "list<element: int64>",
        "active": "bool",
        "seen_at": "timestamp[us, tz=UTC]",
        "blob": "binary",
        "emb": "list<element: float>",  # a vector, logged as a list (nullable in Parquet)
        "note": "string",
        "score": "double",
    }
    first = by_key[("typed-round-trip", 0)][0]["features"]
    assert first["seen_at"] == SEEN and first["blob"] == b"\x00\xffparity"
    assert first["counts"] == [1, -(2**62)] and first["tags"] == ["a", None, "ü"]
    assert list(by_key[("typed-round-trip", 2)][0]["statuses"].values()) == ["not_found"] * 8


def test_two_service_versions_are_two_layouts_combined_by_feature_name(
    typed_store: FeatureStore, live_server: Any
) -> None:
    root = typed_store.offline_path / "request_log"
    with live_server(typed_store, request_log={"flush_interval_seconds": 3600}) as live:
        for version, user in (("typed@v1", 1), ("typed@v2", 1), ("typed@v2", 2)):
            reply = httpx.post(
                f"{live.url}/get-online-features",
                json={"feature_service": version, "entity_rows": [{"user_id": user}]},
                headers={"x-request-id": f"versions-{version}-{user}"},
            )
            assert reply.status_code == 200, reply.text
    layouts = {(s.layout.service, s.layout.service_version): s for s in find_layouts(root)}
    assert {("typed", 1), ("typed", 2)} <= set(layouts)
    assert layouts[("typed", 2)].layout.feature_names == ("score", "note", "tags")
    assert layouts[("typed", 1)].path != layouts[("typed", 2)].path
    kinds = {"score": "numeric", "note": "categorical", "active": "categorical"}
    window = served_window(typed_store.offline_path, kinds=kinds, service="typed")
    ours = window.filter(pa.compute.starts_with(window.column("request_id"), "versions-"))
    rows = sorted(ours.to_pylist(), key=lambda r: r["request_id"])
    assert [(r["service_version"], r["score"], r["note"], r["active"]) for r in rows] == [
        (1, 0.1, "x", "true"),  # v1 serves 'active' (a categorical: text)
        (2, 0.1, "x", None),  # v2 does not serve it: null there
        (2, None, None, None),
    ]
    only_v2 = served_window(
        typed_store.offline_path, kinds=kinds, service="typed", service_version=2
    )
    assert set(only_v2.column("service_version").to_pylist()) == {2}
    assert "active" not in only_v2.column_names  # no v2 layout holds it


def test_sampled_and_dropped_rows_are_counted_and_kept_rows_weighted(tmp_path: Path) -> None:
    from parity.retrieval.vectors import read_online

    root = tmp_path / "request_log"
    metrics = ServerMetrics()
    log = RequestLog(root, RequestLogConfig(max_pending_rows=40), metrics)
    log._random = random.Random(7)  # a reproducible sample
    store = FeatureStore(init_repo(tmp_path / "repo", project="sampling", rows=100))
    try:
        store.apply(message="t")
        for record in store.list_feature_views():  # a service answers once its pins serve
            store.promote(record.ref, message="test", force=True)
        plan = store.serving_plan(feature_service="fraud_detection")
        response = read_online(
            store.online_store, plan, [{"user_id": 1, "merchant_id": 1}], now=datetime.now(UTC)
        )
        log.start()
        started = time.monotonic()
        for i in range(100):  # queued faster than the first hand-over (after 250 ms)
            log.record(response, request_id=f"s{i}", plan=plan)
        assert time.monotonic() - started < 0.2, "too slow to test the bound; rerun"
        log.close()
    finally:
        store.close()
    text = metrics.render()[0].decode()
    counted = {(n, tuple(sorted(labels.items()))): v for n, labels, v in samples_of(text)}
    sampled = counted[("parity_request_log_rows_dropped_total", (("reason", "sampled_out"),))]
    dropped = counted[("parity_request_log_rows_dropped_total", (("reason", "over_memory_bound"),))]
    rows = [row for (row, _) in logged(root).values()]
    assert sampled > 0 and dropped > 0
    assert len(rows) + sampled + dropped == 100  # every served row is logged or counted
    weights = sorted(r["sample_weight"] for r in rows)
    assert weights[:20] == [1.0] * 20  # below half the bound: everything, weight 1
    assert weights[-1] > 1.0  # kept while sampling: weighs 1 / rate


def samples_of(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def test_a_log_in_the_old_json_layout_is_refused_with_the_fix(tmp_path: Path) -> None:
    root = tmp_path / "offline" / "request_log"
    (root / "date=2026-11-01").mkdir(parents=True)
    pq.write_table(pa.table({"values": ["[1.5]"]}), root / "date=2026-11-01" / "part-0.parquet")
    with pytest.raises(SchemaMismatch, match=r"old JSON layout.*mv .*date=\*"):
        served_window(tmp_path / "offline", kinds={"x": "numeric"})


def test_a_row_transform_output_is_logged_with_its_own_event_time(
    typed_store: FeatureStore, live_server: Any
) -> None:
    root = typed_store.offline_path / "request_log"
    rows = [{"user_id": 1, "bump": 2.0}, {"user_id": 3, "bump": 1.0}]
    with live_server(typed_store, request_log={"flush_interval_seconds": 3600}) as live:
        reply = httpx.post(
            f"{live.url}/get-online-features",
            json={"feature_service": "scored", "entity_rows": rows},
            headers={"x-request-id": "transformed"},
        )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    by_key = logged(root)
    for index, result in enumerate(answer["results"]):
        row, layout = by_key[("transformed", index)]
        assert layout.views == ("user_typed@v1", "score_bumped")
        assert list(row["features"].values()) == result["values"]
        assert list(row["statuses"].values()) == result["statuses"]
        stamps = [row["event_timestamps"][layout.views[v]] for _, _, v in layout.features]
        assert stamps == [from_json(s, "timestamp") for s in result["event_timestamps"]]
    assert by_key[("transformed", 0)][0]["features"] == {"score": 0.1, "score_bumped": 2.1}
