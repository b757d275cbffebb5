"""The serving rule: a service version serves only when every view version it pins serves.

A temporary repository with a real SQLite registry and online store. Reads through a
service that cannot answer get ServiceNotServable; lifecycle moves that would leave a
serving service version pointing at a view version that does not serve are refused; a
property test drives random sequences of moves and checks every read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parity as p
from parity.config import RepoConfig
from parity.errors import (
    DefinitionError,
    FeatureViewNotFound,
    InvalidTransition,
    ObjectNotFound,
    ServiceNotServable,
)
from parity.online import ViewTable
from parity.registry import ObjectKind, VersionState

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
SERVICE = p.FeatureService("svc", features=["stats"])
EVENT = datetime.now(UTC) - timedelta(hours=1)


def stats(dtype: p.DType = p.Float64) -> p.FeatureView:
    return p.FeatureView(
        "stats",
        entities=[USER],
        schema=[p.Field("spend", dtype)],
        source=p.ParquetSource("data/stats.parquet", timestamp_field="ts"),
        ttl=timedelta(days=2),
    )


def seed(store: p.FeatureStore, version: int, value: float) -> None:
    view = store.get_feature_view(f"stats@v{version}")
    dtype = pa.float64() if view.schema[0].dtype == p.Float64 else pa.int64()
    store.online_store.write(
        ViewTable.from_view(view, project=store.project, version=version),
        pa.table(
            {
                "user_id": pa.array([1], pa.int64()),
                "spend": pa.array([value], pa.float64()).cast(dtype),
                "event_timestamp": pa.array([EVENT], pa.timestamp("us", tz="UTC")),
            }
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[p.FeatureStore]:
    with p.FeatureStore(tmp_path, config=RepoConfig(project="demo")) as opened:
        opened.apply([USER, stats(), SERVICE], message="v1")
        seed(opened, 1, 1.0)
        yield opened


def read(store: p.FeatureStore, service: str = "svc") -> list[object]:
    response = store.get_online_features(feature_service=service, entity_rows=[{"user_id": 1}])
    return list(response.to_vector()[0])


def test_a_service_over_pending_views_refuses_reads_instead_of_serving_them(
    store: p.FeatureStore,
) -> None:
    # Before the rule, this read answered 1.0 'present' from the never-validated stats@v1.
    with pytest.raises(ServiceNotServable, match=r"svc@v1 pins .*stats@v1 \(pending\).*promote"):
        read(store)
    with pytest.raises(ServiceNotServable, match=r"svc@v1 is not servable"):
        read(store, "svc@v1")
    store.promote("stats@v1", force=True)
    assert read(store) == [1.0]


def test_deprecating_a_view_version_a_serving_service_pins_is_refused(
    store: p.FeatureStore,
) -> None:
    store.promote("stats@v1", force=True)
    with pytest.raises(InvalidTransition) as refused:
        store.deprecate("stats@v1")
    message = str(refused.value)
    assert "stats@v1" in message and "svc@v1" in message and "parity repin svc" in message
    assert store.get_version("stats@v1").state is VersionState.SERVING
    assert read(store) == [1.0]


def test_repin_pins_serving_versions_only(store: p.FeatureStore) -> None:
    # Before the rule, repin moved the service onto the pending, never-synced v2, and
    # every read answered not_found.
    store.promote("stats@v1", force=True)
    store.apply([USER, stats(p.Int64), SERVICE], message="v2: breaking")
    plan = store.repin("svc")
    assert plan.changes[0].change_class.value == "unchanged"
    assert read(store) == [1.0]
    seed(store, 2, 2.0)
    store.promote("stats@v2", force=True)
    assert [c.to_version for c in store.repin("svc").changes] == [2]
    assert read(store) == [2]
    store.deprecate("svc@v1")
    store.deprecate("stats@v1")
    with pytest.raises(InvalidTransition, match=r"svc@v2"):
        store.deprecate("stats@v2")


def test_repin_refuses_when_a_view_has_no_serving_version(store: p.FeatureStore) -> None:
    with pytest.raises(FeatureViewNotFound, match=r"no serving version .*promote stats@v1"):
        store.repin("svc")


def test_promoting_a_service_version_that_pins_a_retired_view_is_refused(
    store: p.FeatureStore,
) -> None:
    # Before the rule, svc@v1 was promoted back and every read failed with a 404.
    store.promote("stats@v1", force=True)
    store.apply([USER, stats(p.Int64), SERVICE], message="v2")
    seed(store, 2, 2.0)
    store.promote("stats@v2", force=True)
    store.repin("svc")
    store.deprecate("svc@v1")
    store.deprecate("stats@v1")
    store.retire("stats@v1")
    with pytest.raises(InvalidTransition) as refused:
        store.promote("svc@v1")
    assert "svc@v1" in str(refused.value) and "stats@v1 (retired)" in str(refused.value)
    assert store.get_version("svc@v1").state is VersionState.DEPRECATED
    with pytest.raises(ServiceNotServable, match=r"stats@v1 \(retired\)"):
        read(store, "svc@v1")
    assert read(store) == [2]


def test_a_bare_service_name_keeps_the_old_version_until_the_new_pins_serve(
    store: p.FeatureStore,
) -> None:
    store.promote("stats@v1", force=True)
    extra = p.FeatureView(
        "extra",
        entities=[USER],
        schema=[p.Field("score", p.Float64)],
        source=p.ParquetSource("data/extra.parquet", timestamp_field="ts"),
    )
    changed = p.FeatureService("svc", features=["stats", "extra"])
    store.apply([USER, stats(), extra, changed], message="svc v2 adds a new view")
    # svc@v2 pins the pending extra@v1: it cannot answer, and the bare name keeps svc@v1.
    assert store.get_version("svc", kind=ObjectKind.FEATURE_SERVICE).version == 2
    with pytest.raises(ServiceNotServable, match=r"svc@v2 .*extra@v1 \(pending\)"):
        read(store, "svc@v2")
    assert read(store) == [1.0]
    store.promote("extra@v1", force=True)
    assert read(store) == [1.0, None]
    assert store.serving_plan(feature_service="svc").service_version == 2


# --- the property: random moves never make a read answer from a version that does not serve

MOVES = st.lists(
    st.tuples(
        st.sampled_from(["promote", "deprecate", "retire", "repin", "apply"]),
        st.sampled_from(["stats@v1", "stats@v2", "stats@v3", "svc@v1", "svc@v2", "svc@v3"]),
    ),
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(moves=MOVES)
def test_random_lifecycle_moves_never_serve_a_version_that_does_not_serve(
    tmp_path_factory: pytest.TempPathFactory, moves: list[tuple[str, str]]
) -> None:
    root = tmp_path_factory.mktemp("moves")
    with p.FeatureStore(root, config=RepoConfig(project="demo")) as store:
        store.apply([USER, stats(), SERVICE], message="v1")
        dtypes = [p.Int64, p.Float64]
        for action, ref in moves:
            try:
                if action == "promote":
                    store.promote(ref, force=True)
                elif action == "deprecate":
                    store.deprecate(ref)
                elif action == "retire":
                    store.retire(ref)
                elif action == "repin":
                    store.repin("svc")
                else:
                    store.apply([USER, stats(dtypes[0]), SERVICE], message="breaking")
                    dtypes.reverse()
            except (InvalidTransition, ObjectNotFound, DefinitionError):
                pass
            for record in store.list_versions("stats"):
                if record.state is not VersionState.RETIRED:
                    seed(store, record.version, float(record.version))
            snapshot = store.snapshot()
            services = snapshot.history_of(ObjectKind.FEATURE_SERVICE, "svc")
            for name in ["svc"] + [r.ref for r in services]:
                try:
                    values = read(store, name)
                except ServiceNotServable:
                    continue
                plan = store.serving_plan(feature_service=name)
                for view_read in plan.reads:
                    record = snapshot.get(ObjectKind.FEATURE_VIEW, "stats", view_read.table.version)
                    assert record is not None and record.state is VersionState.SERVING
                    assert values == [view_read.table.version]
