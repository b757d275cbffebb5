"""The FeatureStore facade: it wires backends from one typed config and delegates.

A temporary repository with real SQLite registry and online store; no parity.yaml is
needed when the typed config is given (the config is loaded once, by whoever builds it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import parity as p
from parity.config import RepoConfig
from parity.errors import (
    AmbiguousReference,
    ConfigError,
    FeatureViewNotFound,
    InvalidTransition,
    ObjectNotFound,
)
from parity.online import ReadRequest, ViewTable
from parity.online.sqlite import SqliteOnlineStore
from parity.registry import ObjectKind, VersionState

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])


def stats(dtype: p.DType = p.Float64) -> p.FeatureView:
    return p.FeatureView(
        "stats",
        entities=[USER],
        schema=[p.Field("spend", dtype)],
        source=p.ParquetSource("data/stats.parquet", timestamp_field="ts"),
        ttl=timedelta(days=2),
    )


SERVICE = p.FeatureService("svc", features=["stats"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[p.FeatureStore]:
    with p.FeatureStore(tmp_path, config=RepoConfig(project="demo")) as opened:
        yield opened


@pytest.fixture
def applied(store: p.FeatureStore) -> p.FeatureStore:
    store.apply([USER, stats(), SERVICE], message="v1")
    return store


def test_a_given_config_is_used_as_is_and_backends_open_only_when_used(
    store: p.FeatureStore, tmp_path: Path
) -> None:
    assert not (tmp_path / "parity.yaml").exists()
    assert store.project == "demo"
    assert not {"registry", "online_store", "offline_engine"} & set(vars(store))
    assert isinstance(store.online_store, SqliteOnlineStore)
    assert store.online_store.path == tmp_path / "data" / "online.db"


def test_without_a_config_the_repo_needs_parity_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"No parity\.yaml in"):
        p.FeatureStore(tmp_path)
    (tmp_path / "parity.yaml").write_text("project: from_file\n")
    with p.FeatureStore(tmp_path) as store:
        assert store.config.project == "from_file"


def test_plan_writes_nothing_and_apply_registers_with_the_actor(store: p.FeatureStore) -> None:
    plan = store.plan([USER, stats(), SERVICE])
    assert {c.name for c in plan.changes} == {"user", "stats", "svc"}
    assert store.list_feature_views() == []
    store.apply([USER, stats(), SERVICE], message="first", actor="alice")
    assert [r.ref for r in store.list_feature_views()] == ["stats@v1"]
    assert [(e.actor, e.message) for e in store.history("stats")] == [("alice", "first")]


def test_references_resolve_through_the_snapshot(applied: p.FeatureStore) -> None:
    applied.apply([USER, stats(p.Int64), SERVICE], message="v2")
    assert applied.get_version("stats").version == 2
    assert applied.get_feature_view("stats@v1").schema[0].dtype == p.Float64
    assert [r.ref for r in applied.list_versions("stats")] == ["stats@v1", "stats@v2"]
    assert applied.get_entity("user").name == "user"
    assert applied.get_feature_service("svc").name == "svc"
    assert {pin.view_version for pin in applied.get_service_pins("svc@v1")} == {1}
    with pytest.raises(FeatureViewNotFound, match=r"Did you mean 'stats'\?"):
        applied.get_feature_view("stat")
    with pytest.raises(ObjectNotFound, match="Unknown object"):
        applied.list_versions("nothing")


def test_promotion_needs_a_validated_sync_unless_forced_and_never_opens_the_online_store(
    applied: p.FeatureStore,
) -> None:
    with pytest.raises(InvalidTransition, match="never been synchronized"):
        applied.promote("stats@v1")
    with pytest.raises(AmbiguousReference, match=r"say which version, e\.g\. 'stats@v1'"):
        applied.promote("stats", force=True)
    record = applied.promote("stats@v1", message="ok", force=True)
    assert record.state is VersionState.SERVING
    assert "online_store" not in vars(applied)
    assert applied.history("stats", limit=1)[0].message == "ok [forced: validation skipped]"


def test_retiring_a_view_version_removes_its_online_values(store: p.FeatureStore) -> None:
    applied = store
    applied.apply([USER, stats()], message="no service pins it")
    table = ViewTable.from_view(stats(), project="demo", version=1)
    applied.online_store.write(table, one_row())
    assert applied.online_store.read([ReadRequest(table, keys=[(1,)])])[0][0] is not None
    applied.promote("stats@v1", force=True)
    applied.deprecate("stats@v1")
    assert applied.retire("stats@v1").state is VersionState.RETIRED
    assert applied.online_store.read([ReadRequest(table, keys=[(1,)])])[0][0] is None


def test_repin_moves_the_service_to_the_newest_serving_versions(applied: p.FeatureStore) -> None:
    applied.apply([USER, stats(p.Int64), SERVICE], message="v2")
    applied.promote("stats@v2", force=True)
    plan = applied.repin("svc", message="move")
    assert [c.to_version for c in plan.changes] == [2]
    assert {pin.view_version for pin in applied.get_service_pins("svc")} == {2}
    latest = applied.get_version("svc", kind=ObjectKind.FEATURE_SERVICE)
    assert latest.version == 2


def test_materialize_refuses_an_unknown_view_before_reading_anything(
    applied: p.FeatureStore,
) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(FeatureViewNotFound, match=r"Did you mean 'stats'\?"):
        applied.materialize(start, end, views=["stat"])
    assert "sync_controller" not in vars(applied)


def one_row() -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([1], pa.int64()),
            "spend": pa.array([2.5], pa.float64()),
            "event_timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)]),
        }
    )
