"""The registry's rules, on SQLite and PostgreSQL alike (DESIGN.md, "Versions")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import parity as p
from parity.definitions import RepoContents
from parity.errors import ChangeRefused, DefinitionError, FeatureViewNotFound, InvalidTransition
from parity.registry import (
    Actor,
    ChangeClass,
    ObjectKind,
    Registry,
    SyncRecord,
    VersionState,
)

PROJECT = "demo"
ME = Actor("tester", {"host": "ci"})
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = ObjectKind.FEATURE_VIEW
SERVICE = ObjectKind.FEATURE_SERVICE


def stats_view(**overrides: Any) -> p.FeatureView:
    args: dict[str, Any] = {
        "entities": [USER],
        "schema": [p.Field("spend", p.Float64, min_value=0), p.Field("count", p.Int64)],
        "source": p.ParquetSource("data/stats.parquet", timestamp_field="ts"),
        "ttl": timedelta(days=2),
    }
    args.update(overrides)
    return p.FeatureView("stats", **args)


def svc(*features: Any, name: str = "svc", **kw: Any) -> p.FeatureService:
    return p.FeatureService(name, features=list(features) or ["stats"], **kw)


def apply(registry: Registry, *objs: Any, message: str = "test") -> Any:
    return registry.apply(PROJECT, RepoContents.build(objs), actor=ME, message=message)


def versions(registry: Registry, kind: ObjectKind, name: str) -> list[tuple[int, str]]:
    return [(r.version, r.state.value) for r in registry.snapshot(PROJECT).history_of(kind, name)]


def only_change(plan: Any, name: str) -> Any:
    return next(c for c in plan.changes if c.name == name)


def test_first_apply_creates_version_one_with_pending_views(registry: Registry) -> None:
    plan = apply(registry, stats_view(), svc())
    assert [(c.kind, c.name, c.change_class, c.to_version) for c in plan.changes] == [
        (ObjectKind.ENTITY, "user", ChangeClass.NEW, 1),
        (VIEW, "stats", ChangeClass.NEW, 1),
        (SERVICE, "svc", ChangeClass.NEW, 1),
    ]
    assert versions(registry, VIEW, "stats") == [(1, "pending")]
    assert versions(registry, SERVICE, "svc") == [(1, "serving")]
    pins = registry.snapshot(PROJECT).pins[("svc", 1)]
    assert [(p.position, p.view, p.view_version, p.output_name) for p in pins] == [
        (0, "stats", 1, "spend"),
        (1, "stats", 1, "count"),
    ]


def test_reapplying_the_same_repo_writes_nothing(registry: Registry) -> None:
    apply(registry, stats_view(), svc())
    before = registry.snapshot(PROJECT)
    audit_before = len(registry.history(PROJECT))
    plan = apply(registry, stats_view(), svc())
    assert plan.is_noop
    after = registry.snapshot(PROJECT)
    assert after.generation == before.generation
    assert after.versions == before.versions
    assert len(registry.history(PROJECT)) == audit_before


def test_metadata_change_keeps_the_version_and_bumps_the_revision(registry: Registry) -> None:
    apply(registry, stats_view())
    plan = apply(registry, stats_view(description="spend per user", owner="risk", tags={"t": "1"}))
    change = only_change(plan, "stats")
    assert change.change_class is ChangeClass.METADATA
    [record] = registry.snapshot(PROJECT).history_of(VIEW, "stats")
    assert (record.version, record.revision, record.spec["owner"]) == (1, 1, "risk")


def test_nullable_field_added_is_compatible_and_expands_the_schema(registry: Registry) -> None:
    apply(registry, stats_view())
    schema = [
        p.Field("spend", p.Float64, min_value=0),
        p.Field("count", p.Int64),
        p.Field("avg", p.Float32),
    ]
    change = only_change(apply(registry, stats_view(schema=schema)), "stats")
    assert change.change_class is ChangeClass.COMPATIBLE
    assert [d.path for d in change.differences] == ["features.avg"]
    [record] = registry.snapshot(PROJECT).history_of(VIEW, "stats")
    assert [f["name"] for f in record.spec["features"]] == ["spend", "count", "avg"]


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        (
            {"schema": [p.Field("spend", p.Float32, min_value=0), p.Field("count", p.Int64)]},
            "features.spend.dtype",
        ),
        ({"schema": [p.Field("spend", p.Float64, min_value=0)]}, "features.count"),
        (
            {
                "schema": [
                    p.Field("spend", p.Float64, min_value=0),
                    p.Field("count", p.Int64),
                    p.Field("n", p.Int64, nullable=False),
                ]
            },
            "features.n",
        ),
        ({"ttl": timedelta(days=3)}, "ttl_seconds"),
        ({"source": p.ParquetSource("data/other.parquet", timestamp_field="ts")}, "source"),
        (
            {"entities": [p.Entity("account", join_keys=[p.Field("account_id", p.Int64)])]},
            "entities",
        ),
    ],
    ids=["dtype", "feature-removed", "non-nullable-added", "ttl", "source", "entity-key"],
)
def test_breaking_change_creates_a_new_version_beside_the_old(
    registry: Registry, overrides: dict[str, Any], path: str
) -> None:
    apply(registry, stats_view(), svc("stats:spend"))
    registry.transition(PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="ok")
    plan = apply(
        registry,
        stats_view(**overrides),
        # The service keeps naming only 'spend', which every variant still has.
        svc("stats:spend"),
    )
    change = only_change(plan, "stats")
    assert change.change_class is ChangeClass.BREAKING
    assert path in [d.path for d in change.differences]
    assert (change.from_version, change.to_version) == (1, 2)
    assert versions(registry, VIEW, "stats") == [(1, "serving"), (2, "pending")]
    old = registry.snapshot(PROJECT).get(VIEW, "stats", 1)
    assert old is not None and old.spec["ttl_seconds"] == 2 * 86400.0


@pytest.mark.parametrize(
    "overrides",
    [
        {"schema": [p.Field("spend", p.Float64, min_value=1), p.Field("count", p.Int64)]},
        {
            "schema": [
                p.Field("spend", p.Float64, min_value=0),
                p.Field("count", p.Int64, nullable=False),
            ]
        },
        {"freshness": timedelta(hours=1)},
        {"online": False},
    ],
    ids=["contract-range", "contract-nullable", "freshness", "online"],
)
def test_contract_and_freshness_changes_are_compatible(
    registry: Registry, overrides: dict[str, Any]
) -> None:
    apply(registry, stats_view())
    change = only_change(apply(registry, stats_view(**overrides)), "stats")
    assert change.change_class is ChangeClass.COMPATIBLE
    assert versions(registry, VIEW, "stats") == [(1, "pending")]


def test_services_keep_their_pins_until_repinned(registry: Registry) -> None:
    apply(registry, stats_view(), svc())
    registry.transition(PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="ok")
    plan = apply(registry, stats_view(ttl=timedelta(days=9)), svc())
    service_change = only_change(plan, "svc")
    assert service_change.change_class is ChangeClass.UNCHANGED
    assert "stats@v2 exists (pending)" in service_change.notes[0]
    # Pending versions are never pinned by a repin: v1 still serves.
    assert registry.repin(PROJECT, "svc", actor=ME, message="too early").is_noop
    registry.transition(
        PROJECT, VIEW, "stats", 2, VersionState.SERVING, actor=ME, message="validated"
    )
    repin = registry.repin(PROJECT, "svc", actor=ME, message="move to v2")
    assert only_change(repin, "svc").to_version == 2
    snap = registry.snapshot(PROJECT)
    assert {p.view_version for p in snap.pins[("svc", 1)]} == {1}
    assert {p.view_version for p in snap.pins[("svc", 2)]} == {2}


def test_explicit_version_reference_pins_exactly_that_version(registry: Registry) -> None:
    apply(registry, stats_view())
    apply(registry, stats_view(ttl=timedelta(days=5)))
    apply(registry, stats_view(ttl=timedelta(days=5)), svc("stats@v1:spend"))
    assert [(p.view_version, p.feature) for p in registry.snapshot(PROJECT).pins[("svc", 1)]] == [
        (1, "spend")
    ]


def test_service_feature_list_change_creates_a_new_service_version(registry: Registry) -> None:
    apply(registry, stats_view(), svc())
    change = only_change(apply(registry, stats_view(), svc("stats:count,spend")), "svc")
    assert (change.change_class, change.to_version) == (ChangeClass.BREAKING, 2)
    snap = registry.snapshot(PROJECT)
    assert [p.output_name for p in snap.pins[("svc", 2)]] == ["count", "spend"]
    assert [p.output_name for p in snap.pins[("svc", 1)]] == ["spend", "count"]


def test_entity_key_change_under_a_serving_version_is_refused_and_writes_nothing(
    registry: Registry,
) -> None:
    apply(registry, stats_view(), svc())
    registry.transition(PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="ok")
    before = registry.snapshot(PROJECT)
    changed_user = p.Entity("user", join_keys=[p.Field("user_id", p.String)])
    with pytest.raises(ChangeRefused, match=r"entity 'user'.*stats@v1.*new entity"):
        apply(registry, stats_view(entities=[changed_user]), svc())
    after = registry.snapshot(PROJECT)
    assert (after.generation, after.versions, after.pins) == (
        before.generation,
        before.versions,
        before.pins,
    )


def test_entity_key_change_without_serving_dependents_versions_the_dependents(
    registry: Registry,
) -> None:
    apply(registry, stats_view())
    changed_user = p.Entity("user", join_keys=[p.Field("user_id", p.String)])
    plan = apply(registry, stats_view(entities=[changed_user]))
    assert only_change(plan, "user").change_class is ChangeClass.BREAKING
    assert only_change(plan, "stats").to_version == 2


def test_failing_apply_writes_nothing(registry: Registry) -> None:
    apply(registry, stats_view())
    before = registry.snapshot(PROJECT)
    other = p.FeatureView(
        "other",
        entities=[USER],
        schema=[p.Field("x", p.Int64)],
        source=p.ParquetSource("o.parquet", timestamp_field="ts"),
    )
    with pytest.raises(FeatureViewNotFound, match=r"stats@v7"):
        apply(registry, stats_view(ttl=timedelta(days=1)), other, svc("stats@v7:spend"))
    after = registry.snapshot(PROJECT)
    assert (after.generation, after.versions) == (before.generation, before.versions)


def test_lifecycle_moves_and_refusals(registry: Registry) -> None:
    apply(registry, stats_view(), svc())
    move = registry.transition
    with pytest.raises(InvalidTransition, match=r"pending; it cannot become deprecated"):
        move(PROJECT, VIEW, "stats", 1, VersionState.DEPRECATED, actor=ME, message="")
    with pytest.raises(InvalidTransition, match=r"live service versions pin it \(svc@v1\)"):
        move(PROJECT, VIEW, "stats", 1, VersionState.RETIRED, actor=ME, message="")
    assert (
        move(PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="").state
        is VersionState.SERVING
    )
    # The serving rule: a view version a serving service version pins keeps serving.
    with pytest.raises(InvalidTransition, match=r"serving feature service version\(s\) svc@v1"):
        move(PROJECT, VIEW, "stats", 1, VersionState.DEPRECATED, actor=ME, message="")
    move(PROJECT, SERVICE, "svc", 1, VersionState.DEPRECATED, actor=ME, message="")
    move(PROJECT, VIEW, "stats", 1, VersionState.DEPRECATED, actor=ME, message="")
    with pytest.raises(InvalidTransition, match=r"svc@v1 cannot serve: .*stats@v1 \(deprecated\)"):
        move(PROJECT, SERVICE, "svc", 1, VersionState.SERVING, actor=ME, message="")
    assert (
        move(PROJECT, VIEW, "stats", 1, VersionState.RETIRED, actor=ME, message="bye").state
        is VersionState.RETIRED
    )
    with pytest.raises(InvalidTransition, match=r"Allowed from retired: none"):
        move(PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="")
    with pytest.raises(FeatureViewNotFound, match=r"Known versions: stats@v1"):
        move(PROJECT, VIEW, "stats", 4, VersionState.SERVING, actor=ME, message="")


def test_redefining_a_retired_view_starts_a_new_version(registry: Registry) -> None:
    apply(registry, stats_view())
    registry.transition(PROJECT, VIEW, "stats", 1, VersionState.RETIRED, actor=ME, message="")
    change = only_change(apply(registry, stats_view()), "stats")
    assert (change.change_class, change.to_version) == (ChangeClass.BREAKING, 2)


def test_audit_log_records_who_when_what_and_why(registry: Registry) -> None:
    apply(registry, stats_view(), message="first")
    registry.transition(
        PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="validated"
    )
    apply(registry, stats_view(ttl=timedelta(days=3)), message="longer ttl")
    entries = registry.history(PROJECT, "stats")
    assert [(e.action, e.change_class, e.version, e.message) for e in entries] == [
        ("apply", "breaking", 2, "longer ttl"),
        ("serving", "lifecycle", 1, "validated"),
        ("apply", "new", 1, "first"),
    ]
    assert all(e.actor == "tester" and e.context == {"host": "ci"} for e in entries)
    assert entries[0].at >= entries[-1].at and entries[0].at.tzinfo is not None


def test_service_name_collision_is_caught_at_definition_time() -> None:
    other = p.FeatureView(
        "other",
        entities=[USER],
        schema=[p.Field("spend", p.Float64)],
        source=p.ParquetSource("o.parquet", timestamp_field="ts"),
    )
    with pytest.raises(DefinitionError, match=r"'spend' comes from both 'stats' and 'other'"):
        RepoContents.build([stats_view(), other, svc("stats", "other")])
    ok = RepoContents.build([stats_view(), other, svc("stats", "other", full_feature_names=True)])
    assert set(ok.services) == {"svc"}


def test_sync_records_are_stored_updated_by_run_id_and_listed_newest_first(
    registry: Registry,
) -> None:
    from datetime import UTC, datetime

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    registry.record_sync(PROJECT, SyncRecord("r1", "stats", 1, t0, None, "running"))
    registry.record_sync(
        PROJECT,
        SyncRecord(
            "r1",
            "stats",
            1,
            t0,
            t0 + timedelta(seconds=5),
            "succeeded",
            watermark=t0,
            rows_read=10,
            rows_written=9,
            rows_rejected=1,
        ),
    )
    registry.record_sync(
        PROJECT, SyncRecord("r2", "stats", 2, t0 + timedelta(hours=1), None, "running")
    )
    records = registry.sync_records(PROJECT, "stats")
    assert [(r.run_id, r.outcome) for r in records] == [("r2", "running"), ("r1", "succeeded")]
    assert records[1].rows_rejected == 1 and records[1].watermark == t0
    assert [r.run_id for r in registry.sync_records(PROJECT, "stats", 1)] == ["r1"]


def test_projects_are_isolated(registry: Registry) -> None:
    apply(registry, stats_view())
    registry.apply("other_project", RepoContents.build([USER]), actor=ME, message="x")
    assert registry.snapshot("other_project").names(VIEW) == []
    assert registry.snapshot(PROJECT).names(VIEW) == ["stats"]


def test_feature_order_is_fixed_per_version_and_new_features_append(registry: Registry) -> None:
    apply(registry, stats_view())
    reordered = [p.Field("count", p.Int64), p.Field("spend", p.Float64, min_value=0)]
    assert apply(registry, stats_view(schema=reordered)).is_noop
    grown = [p.Field("extra", p.Float32), *reordered]
    change = only_change(apply(registry, stats_view(schema=grown)), "stats")
    assert change.change_class is ChangeClass.COMPATIBLE
    [record] = registry.snapshot(PROJECT).history_of(VIEW, "stats")
    assert [f["name"] for f in record.spec["features"]] == ["spend", "count", "extra"]
    assert apply(registry, stats_view(schema=grown)).is_noop


def test_generation_counts_every_write_and_matches_the_snapshot(registry: Registry) -> None:
    assert registry.generation(PROJECT) == 0
    apply(registry, stats_view(), svc())
    first = registry.generation(PROJECT)
    assert first > 0 and registry.snapshot(PROJECT).generation == first
    apply(registry, stats_view(), svc())  # nothing changed: nothing written
    assert registry.generation(PROJECT) == first
    registry.transition(PROJECT, VIEW, "stats", 1, VersionState.SERVING, actor=ME, message="t")
    assert registry.generation(PROJECT) == first + 1 == registry.snapshot(PROJECT).generation
