"""Fields: one typed column and its data contract, validated on construction."""

from __future__ import annotations

import pytest

from parity import Array, Bool, Field, Float32, Float64, Int32, Int64, String, Timestamp, Vector
from parity.errors import DefinitionError


def _message(**kwargs: object) -> str:
    with pytest.raises(DefinitionError) as info:
        Field(**kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_field_accepts_a_dtype_or_its_spelling() -> None:
    assert Field("amount", "float64").dtype == Float64
    assert Field("tags", "list<string>").dtype == Array(String)
    assert Field("amount", Float64) == Field("amount", "float64")


@pytest.mark.parametrize("name", ["1x", "a-b", "a b", "", "user@v2", "view:f", "x" * 129, None])
def test_field_name_must_be_an_identifier(name: object) -> None:
    message = _message(name=name, dtype=Int64)
    assert message.startswith(f"Field name: invalid name {name!r}.")
    assert "letters, digits or underscores" in message


def test_field_name_may_be_128_characters() -> None:
    assert Field("x" * 128, Int64).name == "x" * 128


def test_unknown_dtype_names_the_field_and_suggests() -> None:
    message = _message(name="amount", dtype="flaot64")
    assert message.startswith("Field 'amount'.dtype: invalid type 'flaot64'.")
    assert "Did you mean 'float64'?" in message


def test_nullable_must_be_a_bool() -> None:
    assert _message(name="a", dtype=Int64, nullable=1) == (
        "Field 'a'.nullable: expected True or False, got 1."
    )


@pytest.mark.parametrize("dtype", [String, Bool, Timestamp, Array(Int64), Vector(2)])
def test_ranges_apply_to_numeric_fields_only(dtype: object) -> None:
    message = _message(name="a", dtype=dtype, min_value=1)
    assert message.startswith("Field 'a'.min_value=1: ranges apply to numeric fields only")
    assert "Remove min_value or use allowed_values." in message


@pytest.mark.parametrize("bound", ["min_value", "max_value"])
@pytest.mark.parametrize("value", ["1", True, [1], float("nan")])
def test_range_bounds_must_be_numbers(bound: str, value: object) -> None:
    message = _message(name="a", dtype=Float64, **{bound: value})
    assert message == f"Field 'a'.{bound}: expected a number, got {value!r}."


def test_min_value_must_not_exceed_max_value() -> None:
    assert _message(name="age", dtype=Int32, min_value=120, max_value=18) == (
        "Field 'age': min_value 120 is greater than max_value 18. Swap them."
    )


def test_equal_bounds_pin_one_value() -> None:
    assert Field("one", Int64, min_value=1, max_value=1).contract() == {
        "min_value": 1,
        "max_value": 1,
    }


def test_allowed_values_must_be_a_list_not_a_string() -> None:
    assert _message(name="c", dtype=String, allowed_values="FR") == (
        "Field 'c'.allowed_values: expected a list of values, got 'FR'."
    )


@pytest.mark.parametrize("dtype", [Float32, Float64, Timestamp, Array(String)])
def test_allowed_values_apply_to_string_integer_and_bool_fields(dtype: object) -> None:
    message = _message(name="c", dtype=dtype, allowed_values=[1])
    assert message.startswith("Field 'c'.allowed_values: allowed values apply to string")
    assert "Use min_value/max_value instead." in message


@pytest.mark.parametrize(
    ("dtype", "values", "bad"),
    [
        (String, ["FR", 1], 1),
        (Int64, [1, "2"], "2"),
        (Int64, [1, True], True),
        (Int32, [1.0], 1.0),
        (Bool, [True, 1], 1),
    ],
)
def test_allowed_values_must_match_the_dtype(
    dtype: object, values: list[object], bad: object
) -> None:
    message = _message(name="c", dtype=dtype, allowed_values=values)
    assert message == f"Field 'c'.allowed_values: {bad!r} is not a {dtype} value."


def test_allowed_values_must_not_be_empty() -> None:
    assert _message(name="c", dtype=String, allowed_values=[]) == (
        "Field 'c'.allowed_values: the list is empty; nothing could pass."
    )


def test_allowed_values_are_a_set_in_the_canonical_form() -> None:
    field = Field("c", String, allowed_values=["FR", "DE", "FR"])
    assert field.allowed_values == ("DE", "FR")
    assert field == Field("c", String, allowed_values={"DE", "FR"})


def test_regex_applies_to_string_fields_only() -> None:
    assert _message(name="n", dtype=Int64, regex=r"\d+") == (
        "Field 'n'.regex: a regex applies to string fields only, this field is int64."
    )


def test_regex_must_compile() -> None:
    message = _message(name="iban", dtype=String, regex="[A-Z")
    assert message.startswith("Field 'iban'.regex '[A-Z' does not compile:")


def test_description_must_be_a_string() -> None:
    assert _message(name="a", dtype=Int64, description=3) == (
        "Field 'a'.description: expected a string, got 3."
    )


def test_tags_must_map_strings_to_strings() -> None:
    assert _message(name="a", dtype=Int64, tags={"team": 1}) == (
        "Field 'a'.tags: keys and values must be strings, got 'team': 1."
    )
    assert _message(name="a", dtype=Int64, tags={1: "x", "b": "y"}) == (
        "Field 'a'.tags: keys and values must be strings, got 1: 'x'."
    )
    assert _message(name="a", dtype=Int64, tags=["team"]) == (
        "Field 'a'.tags: expected a dict of str to str, got ['team']."
    )


def test_contract_lists_only_the_constraints_that_are_set() -> None:
    assert Field("a", Int64).contract() == {}
    field = Field("code", String, allowed_values=["b", "a"], regex="^[a-z]$")
    assert field.contract() == {"allowed_values": ["a", "b"], "regex": "^[a-z]$"}


def test_field_to_dict_is_canonical() -> None:
    field = Field(
        "amount",
        Float64,
        nullable=False,
        min_value=0,
        max_value=1e6,
        description="Ticket size.",
        tags={"unit": "eur", "pii": "no"},
    )
    assert field.to_dict() == {
        "name": "amount",
        "dtype": "float64",
        "nullable": False,
        "contract": {"min_value": 0, "max_value": 1e6},
        "description": "Ticket size.",
        "tags": {"pii": "no", "unit": "eur"},
    }
    assert list(field.to_dict()["tags"]) == ["pii", "unit"]


@pytest.mark.parametrize(
    "field",
    [
        Field("a", Int64),
        Field("b", Float32, nullable=False, min_value=-1.5, max_value=2),
        Field("c", String, allowed_values=["x", "y"], regex="^[xy]$", description="d"),
        Field("d", Bool, allowed_values=[True]),
        Field("e", Vector(8, Float64), tags={"k": "v"}),
        Field("f", Array(Timestamp)),
    ],
)
def test_field_round_trips_through_its_canonical_form(field: Field) -> None:
    again = Field.from_dict(field.to_dict())
    assert again == field
    assert again.to_dict() == field.to_dict()


def test_fields_are_frozen_and_hash_by_name_and_type() -> None:
    field = Field("a", Int64, tags={"x": "y"})
    with pytest.raises(AttributeError):
        field.name = "b"  # type: ignore[misc]
    assert hash(field) == hash(Field("a", Int64))
    assert field != Field("a", Int64)
