"""Entities: named, typed join keys."""

from __future__ import annotations

import pytest

from parity import (
    Array,
    Bool,
    Bytes,
    Entity,
    Field,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    Timestamp,
    Vector,
)
from parity.errors import DefinitionError


def _message(name: object = "user", **kwargs: object) -> str:
    kwargs.setdefault("join_keys", [Field("user_id", Int64)])
    with pytest.raises(DefinitionError) as info:
        Entity(name, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_entity_name_must_be_an_identifier() -> None:
    assert _message("user-1").startswith("Entity name: invalid name 'user-1'.")


@pytest.mark.parametrize("keys", [[], (), "user_id", None, 5])
def test_join_keys_must_be_a_non_empty_list_of_fields(keys: object) -> None:
    assert _message(join_keys=keys) == (
        f"Entity 'user'.join_keys: expected a non-empty list of Field, got {keys!r}. "
        "Example: join_keys=[Field('user_id', Int64)]."
    )


def test_join_keys_are_typed_fields_not_names() -> None:
    assert _message(join_keys=["user_id"]) == (
        "Entity 'user'.join_keys: 'user_id' is not a Field; join keys are typed. "
        "Example: Field('user_id', Int64)."
    )


@pytest.mark.parametrize("dtype", [Float32, Float64, Array(Int64), Vector(3)])
def test_join_keys_must_be_exact_scalars(dtype: object) -> None:
    message = _message(join_keys=[Field("k", dtype)])  # type: ignore[arg-type]
    assert message.startswith(f"Entity 'user'.join_keys: key 'k' has type {dtype};")
    assert "floats compare inexactly" in message


@pytest.mark.parametrize("dtype", [Int32, Int64, String, Bytes, Bool, Timestamp])
def test_exact_scalar_types_are_valid_join_keys(dtype: object) -> None:
    assert Entity("e", join_keys=[Field("k", dtype)]).key_dict() == [  # type: ignore[arg-type]
        {"name": "k", "dtype": str(dtype)}
    ]


def test_a_join_key_may_not_be_listed_twice() -> None:
    keys = [Field("user_id", Int64), Field("user_id", String)]
    assert _message(join_keys=keys) == "Entity 'user'.join_keys: 'user_id' is listed twice."


def test_a_single_field_is_accepted_as_the_join_keys() -> None:
    entity = Entity("user", join_keys=Field("user_id", Int64))  # type: ignore[arg-type]
    assert entity.join_key_names == ("user_id",)


def test_composite_keys_keep_their_declaration_order() -> None:
    entity = Entity("shop", join_keys=[Field("country", String), Field("shop_id", Int64)])
    assert entity.join_key_names == ("country", "shop_id")


@pytest.mark.parametrize("attribute", ["description", "owner"])
def test_metadata_text_must_be_a_string(attribute: str) -> None:
    assert (
        _message(**{attribute: None}) == f"Entity 'user'.{attribute}: expected a string, got None."
    )


def test_tags_must_be_strings() -> None:
    assert _message(tags={"team": 3}) == (
        "Entity 'user'.tags: keys and values must be strings, got 'team': 3."
    )


def test_entity_to_dict_is_canonical() -> None:
    entity = Entity(
        "user",
        join_keys=[Field("user_id", Int64)],
        description="A card holder.",
        owner="fraud",
        tags={"b": "2", "a": "1"},
    )
    assert entity.to_dict() == {
        "kind": "entity",
        "name": "user",
        "join_keys": [{"name": "user_id", "dtype": "int64"}],
        "description": "A card holder.",
        "owner": "fraud",
        "tags": {"a": "1", "b": "2"},
    }


def test_entity_round_trips_through_its_canonical_form() -> None:
    entity = Entity(
        "shop",
        join_keys=[Field("country", String), Field("shop_id", Int64)],
        description="d",
        owner="o",
        tags={"t": "v"},
    )
    again = Entity.from_dict(entity.to_dict())
    assert again == entity
    assert again.to_dict() == entity.to_dict()
    assert again.fingerprint == entity.fingerprint


def test_entities_are_equal_when_their_canonical_forms_are() -> None:
    a = Entity("user", join_keys=[Field("user_id", Int64)], tags={"x": "1", "y": "2"})
    b = Entity("user", join_keys=[Field("user_id", "int64")], tags={"y": "2", "x": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != Entity("user", join_keys=[Field("user_id", String)])
    assert a != Entity("user", join_keys=[Field("user_id", Int64)], owner="someone")
    assert a != "user"


def test_key_contract_and_nullability_are_not_part_of_the_entity() -> None:
    plain = Entity("user", join_keys=[Field("user_id", Int64)])
    bounded = Entity("user", join_keys=[Field("user_id", Int64, nullable=False, min_value=1)])
    assert plain == bounded
