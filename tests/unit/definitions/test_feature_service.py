"""Feature services and feature references: ``view``, ``view:f1,f2``, ``view@v2:f1``."""

from __future__ import annotations

import pytest

from parity import FeatureSelection, FeatureService, FeatureView
from parity.definitions import parse_feature_ref, parse_versioned_name
from parity.errors import DefinitionError


@pytest.mark.parametrize(
    ("ref", "view", "version", "features"),
    [
        ("user_stats", "user_stats", None, None),
        ("user_stats:spend_7d", "user_stats", None, ("spend_7d",)),
        ("user_stats:spend_7d,count_7d", "user_stats", None, ("spend_7d", "count_7d")),
        ("user_stats:spend_7d, count_7d", "user_stats", None, ("spend_7d", "count_7d")),
        ("user_stats@v2", "user_stats", 2, None),
        ("user_stats@v2:spend_7d", "user_stats", 2, ("spend_7d",)),
        ("  user_stats@v12:a,b  ", "user_stats", 12, ("a", "b")),
        ("_private", "_private", None, None),
    ],
)
def test_feature_refs_parse_into_view_version_and_features(
    ref: str, view: str, version: int | None, features: tuple[str, ...] | None
) -> None:
    selection = parse_feature_ref(ref)
    assert (selection.view_name, selection.version, selection.features) == (
        view,
        version,
        features,
    )


@pytest.mark.parametrize(
    "ref",
    [
        "user_stats:",
        ":spend",
        "user_stats@2",
        "user_stats@v",
        "1view",
        "a.b",
        "v@v1@v2",
        "",
        "v::a",
    ],
)
def test_malformed_feature_refs_show_the_accepted_forms(ref: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_feature_ref(ref)
    assert str(info.value) == (
        f"Feature reference {ref!r} is malformed: expected 'view', 'view:f1,f2' or 'view@v2:f1'."
    )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("v@v0", "feature reference 'v': version must be a positive integer, got 0."),
        ("v:a,,b", "feature reference v:: invalid name ''."),
        ("v:a b", "feature reference v:a b: invalid name 'a b'."),
        ("v:1a", "feature reference v:1a: invalid name '1a'."),
        ("v:a,b,a", "feature reference 'v': feature(s) ['a'] are listed more than once."),
    ],
)
def test_invalid_parts_of_a_feature_ref_are_named(ref: str, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_feature_ref(ref)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("ref", [3, None, ["v"]])
def test_feature_ref_must_be_a_string_view_or_selection(ref: object) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_feature_ref(ref)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"Feature reference {ref!r}: expected 'view', ")


def test_a_view_object_is_a_reference_to_all_its_features(stats: FeatureView) -> None:
    assert parse_feature_ref(stats) == FeatureSelection("user_stats")


def test_a_selection_is_its_own_reference() -> None:
    selection = FeatureSelection("v", features=("a",), version=3)
    assert parse_feature_ref(selection) is selection


@pytest.mark.parametrize(
    "selection",
    [
        FeatureSelection("v"),
        FeatureSelection("v", features=("a", "b")),
        FeatureSelection("v", version=2),
        FeatureSelection("v", features=("a",), version=7),
    ],
)
def test_selection_ref_parses_back_to_the_selection(selection: FeatureSelection) -> None:
    assert parse_feature_ref(selection.ref) == selection


@pytest.mark.parametrize("version", [0, -1, True, 1.0, "2"])
def test_selection_version_must_be_a_positive_integer(version: object) -> None:
    with pytest.raises(DefinitionError) as info:
        FeatureSelection("v", version=version)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"feature reference 'v': version must be a positive integer, got {version!r}."
    )


def test_selection_features_must_not_be_a_bare_string() -> None:
    with pytest.raises(DefinitionError, match=r"features must be a tuple of names, got the string"):
        FeatureSelection("v", features="spend")  # type: ignore[arg-type]


def test_selection_features_must_not_be_empty() -> None:
    with pytest.raises(DefinitionError, match="feature reference 'v': the feature list is empty"):
        FeatureSelection("v", features=())


def test_selection_to_dict_is_canonical() -> None:
    assert FeatureSelection("v", features=["b", "a"], version=2).to_dict() == {  # type: ignore[arg-type]
        "view": "v",
        "version": 2,
        "features": ["b", "a"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user_stats", ("user_stats", None)),
        ("user_stats@v3", ("user_stats", 3)),
        (" x@v1 ", ("x", 1)),
    ],
)
def test_versioned_names_split_into_name_and_version(
    text: str, expected: tuple[str, int | None]
) -> None:
    assert parse_versioned_name(text) == expected


@pytest.mark.parametrize("text", ["x@3", "x@v", "x:y", "", "1x", 3])
def test_malformed_versioned_names_show_the_expected_form(text: object) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_versioned_name(text)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"Invalid reference {text!r}: expected NAME or NAME@vN, e.g. 'user_stats@v2'."
    )


def _message(**kwargs: object) -> str:
    kwargs.setdefault("features", ["v"])
    with pytest.raises(DefinitionError) as info:
        FeatureService(kwargs.pop("name", "svc"), **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_service_name_must_be_an_identifier() -> None:
    assert _message(name="fraud model").startswith(
        "FeatureService name: invalid name 'fraud model'."
    )


@pytest.mark.parametrize("features", [[], "v", None])
def test_service_features_must_be_a_non_empty_list(features: object) -> None:
    assert _message(features=features) == (
        f"FeatureService 'svc'.features: expected a non-empty list of feature references, got "
        f"{features!r}."
    )


def test_a_view_may_be_referenced_once_per_service() -> None:
    assert _message(features=["v:a", "w", "v:b"]) == (
        "FeatureService 'svc': view(s) ['v'] are referenced more than once. List all the "
        "features of a view in one reference, e.g. 'view:f1,f2'."
    )


def test_a_malformed_reference_fails_the_service() -> None:
    assert "Feature reference 'v:' is malformed" in _message(features=["v:"])


def test_full_feature_names_must_be_a_bool() -> None:
    assert _message(full_feature_names="yes") == (
        "FeatureService 'svc'.full_feature_names: expected True or False, got 'yes'."
    )


@pytest.mark.parametrize("attribute", ["description", "owner"])
def test_service_metadata_text_must_be_a_string(attribute: str) -> None:
    assert (
        _message(**{attribute: 0}) == f"FeatureService 'svc'.{attribute}: expected a string, got 0."
    )


def test_service_keeps_references_in_the_declared_order(stats: FeatureView) -> None:
    service = FeatureService(
        "fraud",
        features=["merchant_risk:score", stats.select("country", "spend_7d"), "user_profile@v2"],
    )
    assert [s.ref for s in service.selections] == [
        "merchant_risk:score",
        "user_stats:country,spend_7d",
        "user_profile@v2",
    ]
    assert service.views_given_as_objects() == ()


def test_views_passed_as_objects_are_collected(stats: FeatureView) -> None:
    service = FeatureService("fraud", features=[stats, "other"])
    assert service.views_given_as_objects() == (stats,)


def test_service_to_dict_is_canonical() -> None:
    service = FeatureService(
        "fraud",
        features=["b:y,x", "a@v2"],
        full_feature_names=True,
        description="d",
        owner="o",
        tags={"z": "1", "a": "2"},
    )
    assert service.to_dict() == {
        "kind": "feature_service",
        "name": "fraud",
        "features": [
            {"view": "b", "version": None, "features": ["y", "x"]},
            {"view": "a", "version": 2, "features": None},
        ],
        "full_feature_names": True,
        "description": "d",
        "owner": "o",
        "tags": {"a": "2", "z": "1"},
    }


def test_service_round_trips_through_its_canonical_form(stats: FeatureView) -> None:
    service = FeatureService(
        "fraud",
        features=[stats.select("spend_7d"), "merchant@v3:score,category", "profile"],
        full_feature_names=True,
        tags={"k": "v"},
    )
    again = FeatureService.from_dict(service.to_dict())
    assert again == service
    assert again.fingerprint == service.fingerprint


def test_services_are_equal_when_their_references_are(stats: FeatureView) -> None:
    by_object = FeatureService("s", features=[stats])
    by_name = FeatureService("s", features=["user_stats"])
    assert by_object == by_name
    assert hash(by_object) == hash(by_name)
    assert by_name != FeatureService("s", features=["user_stats@v1"])


def test_feature_order_in_a_service_is_part_of_its_identity() -> None:
    a = FeatureService("s", features=["v:x,y"])
    b = FeatureService("s", features=["v:y,x"])
    assert a != b
    assert a.fingerprint != b.fingerprint
