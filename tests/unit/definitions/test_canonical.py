"""Canonical JSON and fingerprints: one spelling per definition, stable everywhere."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from parity import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float64,
    Int64,
    ParquetSource,
    String,
)
from parity.definitions.canonical import canonical_json, check_name, check_text, fingerprint
from parity.errors import DefinitionError

USER = Entity("user", join_keys=[Field("user_id", Int64)], description="A card holder.")


def _stats(**overrides: object) -> FeatureView:
    kwargs: dict[str, object] = {
        "entities": [USER],
        "schema": [
            Field("spend_7d", Float64, nullable=False, min_value=0),
            Field("country", String, allowed_values=["FR", "DE"]),
        ],
        "source": ParquetSource(
            "data/user_stats.parquet", timestamp_field="ts", created_timestamp_field="created"
        ),
        "ttl": timedelta(days=7),
        "tags": {"team": "fraud"},
    }
    kwargs.update(overrides)
    return FeatureView("user_stats", **kwargs)  # type: ignore[arg-type]


def test_canonical_json_sorts_keys_and_has_no_white_space() -> None:
    assert canonical_json({"b": 1, "a": [1, 2.5, None, True], "c": {"y": 1, "x": 2}}) == (
        '{"a":[1,2.5,null,true],"b":1,"c":{"x":2,"y":1}}'
    )


def test_canonical_json_keeps_non_ascii_text_as_is() -> None:
    assert canonical_json({"é": "ü"}) == '{"é":"ü"}'


def test_fingerprint_is_the_sha256_of_the_canonical_json() -> None:
    data = {"name": "x", "n": [3, 1]}
    expected = hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()
    assert fingerprint(data) == expected
    assert len(expected) == 64


def test_fingerprint_ignores_dict_insertion_order() -> None:
    assert fingerprint({"a": 1, "b": {"c": 2, "d": 3}}) == fingerprint(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )


def test_fingerprint_keeps_list_order() -> None:
    assert fingerprint({"a": [1, 2]}) != fingerprint({"a": [2, 1]})


def test_entity_canonical_text_is_pinned() -> None:
    # A regression guard: changing this text changes every fingerprint in every registry.
    assert canonical_json(USER.to_dict()) == (
        '{"description":"A card holder.","join_keys":[{"dtype":"int64","name":"user_id"}],'
        '"kind":"entity","name":"user","owner":"","tags":{}}'
    )
    assert USER.fingerprint == "c1d71e9249047246646594020e29f8fedb6913c06aea86194c30de2d1941fb68"


def test_view_fingerprint_is_pinned() -> None:
    assert _stats().fingerprint == (
        "64e569542360e0417f8487fa48430e21052c572758dc81d0016a732cf6c18afc"
    )


def test_service_fingerprint_is_pinned() -> None:
    service = FeatureService("fraud", features=["user_stats:spend_7d,country", "merchant@v2"])
    assert service.fingerprint == (
        "3f894faa01959f23b1a4a14555ba489fe63ada39c9c8449d144cec9a0c1e06a2"
    )


def test_fingerprint_ignores_tag_order() -> None:
    a = _stats(tags={"team": "fraud", "tier": "gold", "area": "eu"})
    b = _stats(tags={"area": "eu", "tier": "gold", "team": "fraud"})
    assert a.fingerprint == b.fingerprint
    assert a == b


def test_fingerprint_ignores_field_mapping_order() -> None:
    a = _stats(source=ParquetSource("p", field_mapping={"a": "x", "b": "y"}))
    b = _stats(source=ParquetSource("p", field_mapping={"b": "y", "a": "x"}))
    assert a.fingerprint == b.fingerprint


def test_fingerprint_ignores_allowed_values_order_and_repeats() -> None:
    a = _stats(schema=[Field("country", String, allowed_values=["FR", "DE"])])
    b = _stats(schema=[Field("country", String, allowed_values=["DE", "FR", "DE"])])
    assert a.fingerprint == b.fingerprint


def test_fingerprint_ignores_how_types_and_durations_are_spelled() -> None:
    a = _stats(ttl=timedelta(days=7), freshness=timedelta(hours=1))
    b = _stats(ttl=timedelta(hours=168), freshness=timedelta(minutes=60))
    assert a.fingerprint == b.fingerprint
    assert Field("x", Int64) == Field("x", "INT64")


@pytest.mark.parametrize(
    "overrides",
    [
        {"ttl": timedelta(days=8)},
        {"ttl": None},
        {"tags": {"team": "risk"}},
        {"description": "changed"},
        {"owner": "someone"},
        {"online": False},
        {"entities": [Entity("user", join_keys=[Field("user_id", String)])]},
        {"source": ParquetSource("data/other.parquet", timestamp_field="ts")},
        {"schema": [Field("spend_7d", Float64, nullable=True, min_value=0)]},
    ],
)
def test_fingerprint_changes_with_any_part_of_the_definition(overrides: dict[str, object]) -> None:
    assert _stats(**overrides).fingerprint != _stats().fingerprint


def test_check_name_accepts_identifiers_only() -> None:
    assert check_name("_a1", what="x") == "_a1"
    with pytest.raises(DefinitionError, match=r"^thing: invalid name 'a:b'"):
        check_name("a:b", what="thing")


def test_check_text_names_the_attribute() -> None:
    with pytest.raises(
        DefinitionError, match=r"^View 'v'.owner: expected a string, got \['me'\]\.$"
    ):
        check_text(["me"], what="View 'v'.owner")
