"""Row transforms end to end: training frames, the SDK and the feature server agree.

A small repository (one view from Parquet, a service with a request field and a row
transform) is materialized once per backend (SQLite, Redis); every test reads it.
"""

from __future__ import annotations

import struct
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity import FeatureStore
from parity.client import Client
from parity.config import load_config
from parity.errors import SchemaMismatch, TransformUnavailable
from parity.retrieval.vectors import FeatureStatus

from .conftest import Backend, serve

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
USERS = 12  # users 0..11 have rows; 12 and 13 never do

CONFIG = """
project: {project}
registry: {{type: sqlite, path: data/registry.db}}
offline_store: {{type: duckdb, path: data/offline}}
online_store: {{type: sqlite, path: data/online.db}}
"""

DEFINITIONS = """
from datetime import timedelta

from parity import (
    Entity, FeatureService, FeatureView, Field, Float64, Int64, ParquetSource, RowTransform,
)

user = Entity("user", join_keys=[Field("user_id", Int64)])
stats = FeatureView(
    "stats",
    entities=[user],
    schema=[Field("amount_mean", Float64), Field("txn_count", Int64)],
    source=ParquetSource("data/stats.parquet", timestamp_field="event_timestamp"),
    ttl=timedelta(days=30),
)


def score(df):
    return {
        "amount_ratio": df["amount"] / df["stats:amount_mean"],
        "txn_count_next": df["txn_count"] + 1,
        "big": df["amount"] > __FACTOR__ * df["stats:amount_mean"],
    }


scoring = RowTransform(
    "scoring",
    inputs=["amount", "stats:amount_mean", "txn_count"],
    outputs=[
        Field("amount_ratio", Float64),
        Field("txn_count_next", Int64),
        Field("big", Bool),
    ],
    function=score,
    description="__DESCRIPTION__",
)
fraud = FeatureService(
    "fraud",
    features=["stats:amount_mean,txn_count"],
    request_schema=[Field("amount", Float64)],
    transforms=[scoring],
)
""".replace("Float64, Int64,", "Float64, Int64, Bool,")

ORDER = ["amount_mean", "txn_count", "amount_ratio", "txn_count_next", "big"]


def write_definitions(root: Path, *, factor: float = 3.0, description: str = "") -> None:
    (root / "features.py").write_text(
        textwrap.dedent(DEFINITIONS)
        .replace("__FACTOR__", repr(factor))
        .replace("__DESCRIPTION__", description)
    )


def build(root: Path, environ: dict[str, str]) -> FeatureStore:
    root.mkdir(parents=True)
    (root / "data").mkdir()
    (root / "parity.yaml").write_text(CONFIG.format(project=root.parent.name.replace("-", "_")))
    write_definitions(root)
    # Means cover zero (a ratio of x / 0 is null), nulls, negatives; counts have nulls too.
    means = [10.0, 0.0, None, 2.5, -4.0, 1e-300, 7.0, 3.0, 1e300, 0.5, 100.0, 6.25]
    counts = [1, 2, None, 0, 5, 6, -7, 8, 2**40, 10, None, 12]
    old = NOW - timedelta(days=3)
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(list(range(USERS)) * 2, pa.int64()),
                "amount_mean": pa.array([1.0] * USERS + means, pa.float64()),
                "txn_count": pa.array([0] * USERS + counts, pa.int64()),
                "event_timestamp": pa.array(
                    [old - timedelta(days=1)] * USERS + [old] * USERS, pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        root / "data" / "stats.parquet",
    )
    store = FeatureStore(root, config=load_config(root, environ=environ))
    store.apply(message="transforms")
    store.materialize(NOW - timedelta(days=10), NOW)
    store.promote("stats@v1", message="test", force=True)
    return store


@pytest.fixture(scope="module")
def store(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    built = build(tmp_path_factory.mktemp(f"tx_{backend.name}") / "repo", backend.environ)
    yield built
    built.close()


@pytest.fixture(scope="module")
def server(store: FeatureStore) -> Iterator[Any]:
    # The tests read as of a fixed instant (NOW) long past: a replay, so no skew bound.
    with serve(store, max_client_now_skew_seconds=None) as live:
        yield live


def offline_rows(store: FeatureStore, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    frame = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "amount": pa.array([r["amount"] for r in rows], pa.float64()),
            "event_timestamp": pa.array([NOW] * len(rows), pa.timestamp("us", tz="UTC")),
        }
    )
    table = store.get_historical_features(frame, feature_service="fraud").to_arrow()
    return table.select(ORDER).to_pylist()


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type; floats bit for bit (so -0.0 differs from 0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and a == b


def test_training_frame_has_transform_outputs_after_the_view_features(
    store: FeatureStore,
) -> None:
    frame = pa.table(
        {
            "user_id": pa.array([0, 1, 13], pa.int64()),
            "amount": [25.0, 5.0, 1.0],
            "event_timestamp": pa.array([NOW] * 3, pa.timestamp("us", tz="UTC")),
        }
    )
    table = store.get_historical_features(frame, feature_service="fraud").to_arrow()
    assert table.column_names[-5:] == ORDER
    assert table.schema.field("big").type == pa.bool_()
    assert table.select(["amount_ratio", "txn_count_next", "big"]).to_pylist() == [
        {"amount_ratio": 2.5, "txn_count_next": 2, "big": False},
        {"amount_ratio": None, "txn_count_next": 3, "big": True},  # 5 / 0 is null
        {"amount_ratio": None, "txn_count_next": None, "big": False},  # no features: NaN > NaN
    ]


def test_online_vector_ends_with_transform_outputs_and_their_statuses(
    store: FeatureStore,
) -> None:
    response = store.get_online_features(
        feature_service="fraud",
        entity_rows=[{"user_id": 0, "amount": 25.0}, {"user_id": 1, "amount": 5.0}],
        now=NOW,
    )
    assert list(response.feature_names) == ORDER
    assert response.to_vector() == [[10.0, 1, 2.5, 2, False], [0.0, 2, None, 3, True]]
    present, null = FeatureStatus.PRESENT, FeatureStatus.NULL_VALUE
    assert response.statuses[1][2:] == [null, present, present]
    # An output is as old as the oldest feature it read.
    assert response.event_timestamps[0][2] == response.event_timestamps[0][0]


def test_saved_training_set_keeps_the_outputs_and_records_the_transform(
    store: FeatureStore,
) -> None:
    frame = pa.table(
        {
            "user_id": pa.array([0], pa.int64()),
            "amount": [25.0],
            "event_timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    name = f"tx_{store.online_store.__class__.__name__}"
    saved = store.get_historical_features(frame, feature_service="fraud").save(name)
    assert saved.to_arrow().column("amount_ratio").to_pylist() == [2.5]
    lineage = store.get_saved_dataset(name).lineage
    assert lineage.transforms is not None
    (transform,) = lineage.transforms["transforms"]
    assert transform["name"] == "scoring" and len(transform["function_sha256"]) == 64


def test_missing_request_field_is_a_precise_error_online_and_offline(
    store: FeatureStore, server: Any
) -> None:
    with pytest.raises(SchemaMismatch, match=r"entity_rows\[0\] has no request field 'amount'"):
        store.get_online_features(feature_service="fraud", entity_rows=[{"user_id": 0}])
    reply = httpx.post(
        f"{server.url}/get-online-features",
        json={"feature_service": "fraud", "entity_rows": [{"user_id": 0}]},
    )
    assert reply.status_code == 422
    assert "request field 'amount'" in reply.json()["error"]["message"]
    frame = pa.table(
        {
            "user_id": pa.array([0], pa.int64()),
            "event_timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    with pytest.raises(SchemaMismatch, match="entity frame has no column 'amount'"):
        store.get_historical_features(frame, feature_service="fraud").to_arrow()


def test_wrongly_typed_request_value_names_field_value_and_type(
    store: FeatureStore, server: Any
) -> None:
    reply = httpx.post(
        f"{server.url}/get-online-features",
        json={"feature_service": "fraud", "entity_rows": [{"user_id": 0, "amount": "12"}]},
    )
    assert reply.status_code == 422
    message = reply.json()["error"]["message"]
    assert "'amount' is '12' (str)" in message and "float64" in message
    frame = pa.table(
        {
            "user_id": pa.array([0], pa.int64()),
            "amount": ["12"],
            "event_timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    with pytest.raises(SchemaMismatch, match="column 'amount' is string"):
        store.get_historical_features(frame, feature_service="fraud").to_arrow()


def test_feast_shaped_request_carries_request_fields_as_entity_columns(server: Any) -> None:
    reply = httpx.post(
        f"{server.url}/get-online-features",
        json={
            "feature_service": "fraud",
            "entities": {"user_id": [0], "amount": [25.0]},
            "now": NOW.isoformat(),
        },
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["metadata"]["feature_names"][-3:] == ["amount_ratio", "txn_count_next", "big"]
    assert data["results"][-3]["values"] == [2.5]


def test_deadline_reads_apply_the_transform_once_on_the_assembled_vector(
    store: FeatureStore, server: Any
) -> None:
    with Client(server.url) as client:
        answer = client.get_online_features(
            feature_service="fraud",
            entity_rows=[{"user_id": 0, "amount": 25.0}],
            now=NOW,
            deadline_ms=2000,
        )
    assert answer.to_vector() == [[10.0, 1, 2.5, 2, False]]


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.integers(0, USERS + 1),
            "amount": st.one_of(
                st.none(),
                st.floats(allow_nan=False, allow_infinity=False, width=64),
                st.sampled_from([0.0, -0.0, 1.0, 25.0]),
            ),
        }
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=rows_strategy)
def test_online_vectors_from_sdk_and_http_equal_the_training_rows_exactly(
    store: FeatureStore, server: Any, rows: list[dict[str, Any]]
) -> None:
    offline = offline_rows(store, rows)
    local = store.get_online_features(feature_service="fraud", entity_rows=rows, now=NOW)
    with Client(server.url) as client:
        remote = client.get_online_features(feature_service="fraud", entity_rows=rows, now=NOW)
    for answer in (local, remote):
        assert list(answer.feature_names) == ORDER
        for training, vector in zip(offline, answer.to_vector(), strict=True):
            assert all(
                same(training[name], value) for name, value in zip(ORDER, vector, strict=True)
            ), (
                training,
                vector,
            )


def test_pinned_service_version_refuses_a_changed_function_naming_both_fingerprints(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.name != "sqlite":
        pytest.skip("registry behaviour; the online backend does not matter")
    built = build(tmp_path / "pinned" / "repo", backend.environ)
    try:
        before = built.serving_plan(feature_service="fraud@v1").transforms
        assert before is not None
        old_sha = before.lineage()["transforms"][0]["function_sha256"]
        write_definitions(built.repo_path, description="now documented")
        assert built.plan().changes[-1].change_class.value == "metadata"
        write_definitions(built.repo_path, factor=4.0)
        plan = built.apply(message="factor 4")
        assert [c.to_version for c in plan.changes if c.name == "fraud"] == [2]
        fresh = FeatureStore(built.repo_path, config=built.config)
        try:
            with pytest.raises(TransformUnavailable) as caught:
                fresh.serving_plan(feature_service="fraud@v1")
            assert old_sha in str(caught.value)
            new = fresh.serving_plan(feature_service="fraud@v2").transforms
            assert new is not None
            assert new.lineage()["transforms"][0]["function_sha256"] in str(caught.value)
            rows = [{"user_id": 0, "amount": 35.0}]
            vector = fresh.get_online_features(
                feature_service="fraud@v2", entity_rows=rows, now=NOW
            ).to_vector()
            assert vector[0][-1] is False  # 35 > 4 * 10 is false; v1's 3 * 10 would be true
        finally:
            fresh.close()
    finally:
        built.close()


def test_request_values_are_checked_against_their_declared_dtype() -> None:
    from parity import Bool, Field, Float64, Int64, Timestamp
    from parity.retrieval.transforms import request_values

    assert request_values([{"a": 3}], Field("a", Float64), "s") == [3]
    with pytest.raises(SchemaMismatch, match=r"'a' is True \(bool\); it is declared float64"):
        request_values([{"a": True}], Field("a", Float64), "s")
    with pytest.raises(SchemaMismatch, match=r"'n' is 2.5 \(float\); it is declared int64"):
        request_values([{"n": 2.5}], Field("n", Int64), "s")
    with pytest.raises(SchemaMismatch, match="declared non-nullable"):
        request_values([{"b": None}], Field("b", Bool, nullable=False), "s")
    (when,) = request_values([{"t": "2026-01-01T00:00:00Z"}], Field("t", Timestamp), "s")
    assert when == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(SchemaMismatch, match="timezone-aware"):
        request_values([{"t": "2026-01-01T00:00:00"}], Field("t", Timestamp), "s")


def test_a_failing_transform_function_is_a_server_error_not_a_client_error() -> None:
    from parity.definitions.row_transform import TransformFailed
    from parity.serve.http_errors import status_for

    assert status_for(TransformFailed("RowTransform 'x' raised ZeroDivisionError")) == 500
    assert status_for(TransformUnavailable("fraud@v1 ...")) == 500
    assert status_for(SchemaMismatch("entity_rows[0] has no request field 'a'")) == 422


def test_an_unknown_fingerprint_rereads_the_repository_at_most_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parity import Field, Float64, RowTransform
    from parity.retrieval import transforms as module

    known = RowTransform(
        "r", inputs=["a"], outputs=[Field("b", Float64)], function=lambda df: {"b": df["a"]}
    )
    loads: list[int] = []

    def load() -> list[RowTransform]:
        loads.append(1)
        return [known]

    functions = module.TransformFunctions(load)
    assert functions.find(known.spec, service_ref="s@v1") is known
    missing = module.TransformSpec.from_dict({**known.to_dict(), "function_sha256": "f" * 64})
    for _ in range(3):
        with pytest.raises(TransformUnavailable, match=r"f{64}"):
            functions.find(missing, service_ref="s@v1")
    assert len(loads) == 1  # within RELOAD_SECONDS of the first load: no re-import
    monkeypatch.setattr(module, "RELOAD_SECONDS", 0.0)
    with pytest.raises(TransformUnavailable, match=known.function_sha256):
        functions.find(missing, service_ref="s@v1")
    assert len(loads) == 2
