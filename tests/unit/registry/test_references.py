"""What users type resolves to one record, or an error that says what is known."""

from __future__ import annotations

import pytest

import parity as p
from parity.definitions import RepoContents
from parity.errors import FeatureServiceNotFound, FeatureViewNotFound, ObjectNotFound
from parity.registry import ObjectKind, RegistrySnapshot, VersionState, plan_apply
from parity.registry.plan import empty_snapshot
from parity.registry.references import (
    latest_records,
    resolve_reference,
    service_pins,
    versions_of,
)

from .snapshots import applied, with_states
from .test_plan import stats

VIEW = ObjectKind.FEATURE_VIEW


def two_versions() -> RegistrySnapshot:
    start = empty_snapshot("demo")
    v1 = applied(
        start,
        plan_apply(
            start, RepoContents.build([stats(), p.FeatureService("svc", features=["stats"])])
        ),
    )
    changed = stats(schema=[p.Field("spend", p.Int64), p.Field("count", p.Int64)])
    return applied(
        v1,
        plan_apply(v1, RepoContents.build([changed, p.FeatureService("svc", features=["stats"])])),
    )


def test_a_bare_name_means_the_newest_serving_version_else_the_newest() -> None:
    snapshot = two_versions()
    assert resolve_reference(snapshot, "stats").version == 2
    serving_v1 = with_states(snapshot, [(VIEW, "stats", 1, VersionState.SERVING)])
    assert resolve_reference(serving_v1, "stats").version == 1
    assert resolve_reference(serving_v1, "stats@v2").version == 2


def test_a_missing_version_lists_the_known_ones() -> None:
    with pytest.raises(
        FeatureViewNotFound,
        match=r"No feature view stats@v7\. Known versions: stats@v1, stats@v2\.",
    ):
        resolve_reference(two_versions(), "stats@v7")


def test_an_unknown_name_says_did_you_mean_with_the_precise_error_for_one_kind() -> None:
    snapshot = two_versions()
    with pytest.raises(
        FeatureViewNotFound, match=r"Unknown feature view 'stast'\. Did you mean 'stats'"
    ):
        resolve_reference(snapshot, "stast", kind=VIEW)
    with pytest.raises(ObjectNotFound, match=r"Unknown object 'svd'\. Did you mean 'svc'"):
        versions_of(snapshot, "svd")
    with pytest.raises(KeyError):
        resolve_reference(snapshot, "nothing", kind=VIEW)


def test_listings_give_the_newest_version_of_each_object_and_every_version_of_one() -> None:
    snapshot = two_versions()
    assert [r.ref for r in latest_records(snapshot, VIEW)] == ["stats@v2"]
    assert [r.ref for r in versions_of(snapshot, "stats", kind=VIEW)] == ["stats@v1", "stats@v2"]


def test_service_pins_are_those_of_the_resolved_service_version() -> None:
    snapshot = two_versions()
    assert [(pin.view, pin.view_version) for pin in service_pins(snapshot, "svc@v1")] == [
        ("stats", 1),
        ("stats", 1),
    ]
    with pytest.raises(FeatureServiceNotFound):
        service_pins(snapshot, "stats")
