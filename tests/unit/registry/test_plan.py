"""The planner classifies each definition against the registry, purely (registry/plan.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import parity as p
from parity.definitions import RepoContents
from parity.registry import ChangeClass, ObjectKind, VersionState, plan_apply
from parity.registry.plan import empty_snapshot, plan_repin

from .snapshots import applied, with_states

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = ObjectKind.FEATURE_VIEW
SERVICE = ObjectKind.FEATURE_SERVICE


def stats(**overrides: Any) -> p.FeatureView:
    args: dict[str, Any] = {
        "entities": [USER],
        "schema": [p.Field("spend", p.Float64), p.Field("count", p.Int64)],
        "source": p.ParquetSource("data/stats.parquet", timestamp_field="ts"),
        "ttl": timedelta(days=2),
    }
    args.update(overrides)
    return p.FeatureView("stats", **args)


def repo(*objects: Any) -> RepoContents:
    return RepoContents.build(objects)


def classes(plan: Any) -> dict[str, ChangeClass]:
    return {c.name: c.change_class for c in plan.changes}


def test_planning_writes_nothing_and_an_empty_repo_on_an_empty_registry_is_a_noop() -> None:
    snapshot = empty_snapshot("demo")
    assert plan_apply(snapshot, RepoContents()).is_noop
    plan_apply(snapshot, repo(stats()))
    assert snapshot.versions == {}


def test_first_plan_creates_version_one_of_everything_with_views_pending() -> None:
    plan = plan_apply(
        empty_snapshot("demo"), repo(stats(), p.FeatureService("svc", features=["stats"]))
    )
    assert [(c.kind, c.name, c.change_class, c.to_version, c.state) for c in plan.changes] == [
        (ObjectKind.ENTITY, "user", ChangeClass.NEW, 1, VersionState.SERVING),
        (VIEW, "stats", ChangeClass.NEW, 1, VersionState.PENDING),
        (SERVICE, "svc", ChangeClass.NEW, 1, VersionState.SERVING),
    ]
    service = plan.changes[-1]
    assert [(pin.view, pin.view_version, pin.output_name) for pin in service.pins] == [
        ("stats", 1, "spend"),
        ("stats", 1, "count"),
    ]


def test_metadata_change_keeps_the_version_and_a_dtype_change_makes_a_new_one() -> None:
    first = applied(empty_snapshot("demo"), plan_apply(empty_snapshot("demo"), repo(stats())))
    metadata = plan_apply(first, repo(stats(description="spend per user")))
    assert classes(metadata)["stats"] is ChangeClass.METADATA
    assert metadata.changes[1].to_version == 1
    breaking = plan_apply(
        first, repo(stats(schema=[p.Field("spend", p.Int64), p.Field("count", p.Int64)]))
    )
    change = breaking.changes[1]
    assert (change.change_class, change.from_version, change.to_version) == (
        ChangeClass.BREAKING,
        1,
        2,
    )
    assert breaking.has_breaking


def test_a_nullable_field_added_is_compatible_and_keeps_stored_feature_order() -> None:
    first = applied(empty_snapshot("demo"), plan_apply(empty_snapshot("demo"), repo(stats())))
    schema = [p.Field("extra", p.String), p.Field("spend", p.Float64), p.Field("count", p.Int64)]
    plan = plan_apply(first, repo(stats(schema=schema)))
    change = plan.changes[1]
    assert change.change_class is ChangeClass.COMPATIBLE
    assert [f["name"] for f in change.spec["features"]] == ["spend", "count", "extra"]


def test_objects_left_out_of_the_repo_are_reported_not_removed() -> None:
    first = applied(empty_snapshot("demo"), plan_apply(empty_snapshot("demo"), repo(stats())))
    plan = plan_apply(first, repo(USER))
    assert plan.not_in_repo == ((VIEW, "stats"),)
    assert classes(plan) == {"user": ChangeClass.UNCHANGED}


def test_repin_moves_a_service_onto_the_newest_serving_view_version() -> None:
    start = empty_snapshot("demo")
    v1 = applied(
        start, plan_apply(start, repo(stats(), p.FeatureService("svc", features=["stats"])))
    )
    changed = stats(schema=[p.Field("spend", p.Int64), p.Field("count", p.Int64)])
    v2 = applied(v1, plan_apply(v1, repo(changed, p.FeatureService("svc", features=["stats"]))))
    v1_serves = with_states(v2, [(VIEW, "stats", 1, VersionState.SERVING)])
    assert plan_repin(v1_serves, "svc").changes[0].change_class is ChangeClass.UNCHANGED
    serving = with_states(v1_serves, [(VIEW, "stats", 2, VersionState.SERVING)])
    change = plan_repin(serving, "svc").changes[0]
    assert (change.change_class, change.to_version) == (ChangeClass.BREAKING, 2)
    assert {pin.view_version for pin in change.pins} == {2}
    assert [d.to_dict()["path"] for d in change.differences] == ["pins.stats"]


def test_repin_of_an_unknown_service_says_did_you_mean() -> None:
    start = empty_snapshot("demo")
    v1 = applied(
        start, plan_apply(start, repo(stats(), p.FeatureService("svc", features=["stats"])))
    )
    with pytest.raises(p.ParityError, match=r"Unknown feature service 'scv'\. Did you mean 'svc'"):
        plan_repin(v1, "scv")
