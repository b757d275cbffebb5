"""parity's value types: canonical spellings, Arrow mapping, the UTC rule, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity.errors import DefinitionError, NaiveTimestampError, ParityError
from parity.types import (
    Array,
    Bool,
    Bytes,
    DType,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    Timestamp,
    Vector,
    format_duration,
    parse_dtype,
    require_positive_duration,
    require_utc,
)

SCALARS = (Int32, Int64, Float32, Float64, Bool, String, Bytes, Timestamp)

dtypes = st.one_of(
    st.sampled_from(SCALARS),
    st.sampled_from(SCALARS).map(Array),
    st.builds(Vector, st.integers(1, 4096), st.sampled_from((Float32, Float64))),
)


@pytest.mark.parametrize(
    ("dtype", "name", "arrow"),
    [
        (Int32, "int32", pa.int32()),
        (Int64, "int64", pa.int64()),
        (Float32, "float32", pa.float32()),
        (Float64, "float64", pa.float64()),
        (Bool, "bool", pa.bool_()),
        (String, "string", pa.string()),
        (Bytes, "bytes", pa.binary()),
        (Timestamp, "timestamp", pa.timestamp("us", tz="UTC")),
        (Array(String), "list<string>", pa.list_(pa.string())),
        (Vector(3), "vector<float32,3>", pa.list_(pa.float32(), 3)),
        (Vector(2, Float64), "vector<float64,2>", pa.list_(pa.float64(), 2)),
    ],
)
def test_each_dtype_has_one_canonical_name_and_one_arrow_type(
    dtype: DType, name: str, arrow: pa.DataType
) -> None:
    assert dtype.name == name
    assert str(dtype) == name
    assert repr(dtype) == f"DType({name!r})"
    assert dtype.to_arrow() == arrow
    assert parse_dtype(name) == dtype


def test_timestamps_map_to_utc_microseconds_in_arrow() -> None:
    arrow = Timestamp.to_arrow()
    assert (arrow.unit, arrow.tz) == ("us", "UTC")


def test_dtype_predicates_classify_numeric_integer_and_scalar() -> None:
    assert [t.name for t in SCALARS if t.is_numeric] == ["int32", "int64", "float32", "float64"]
    assert [t.name for t in SCALARS if t.is_integer] == ["int32", "int64"]
    assert all(t.is_scalar for t in SCALARS)
    assert not Array(Int64).is_scalar
    assert not Vector(2).is_scalar
    assert not Vector(2).is_numeric


def test_dtypes_are_immutable_and_hashable() -> None:
    with pytest.raises(AttributeError):
        Int64.kind = "int32"  # type: ignore[misc]
    assert {Array(Int64), Array(Int64), Vector(4)} == {Array(Int64), Vector(4)}


def test_parse_dtype_accepts_case_and_spaces() -> None:
    assert parse_dtype("  INT64 ") == Int64
    assert parse_dtype("List<String>") == Array(String)
    assert parse_dtype("vector<float64, 8>") == Vector(8, Float64)


def test_parse_dtype_returns_a_dtype_unchanged() -> None:
    dtype = Vector(5)
    assert parse_dtype(dtype) is dtype


def test_unknown_type_name_suggests_the_closest_and_lists_the_known_ones() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_dtype("strin", what="Field 'country'.dtype")
    message = str(info.value)
    assert message.startswith("Field 'country'.dtype: invalid type 'strin'.")
    assert "Did you mean 'string'?" in message
    assert "Known types: int32, int64" in message


@pytest.mark.parametrize("value", [None, 5, 3.0, int])
def test_parse_dtype_rejects_non_type_values_naming_them(value: object) -> None:
    with pytest.raises(DefinitionError, match=rf"expected a parity type such as Int64.*{value!r}"):
        parse_dtype(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("list<list<int64>>", "lists of lists or vectors are not supported"),
        ("list<vector<float32,2>>", "lists of lists or vectors are not supported"),
        ("vector<int64,3>", "Vector element type 'int64' is not supported"),
        ("vector<float32,0>", "Vector size must be a positive integer, got 0"),
        ("list<int65>", "invalid type 'int65'"),
    ],
)
def test_invalid_composite_types_name_the_field_and_the_reason(text: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_dtype(text, what="Field 'emb'.dtype")
    assert str(info.value).startswith("Field 'emb'.dtype: invalid type")
    assert reason in str(info.value)


@pytest.mark.parametrize("element", [Array(Int64), Vector(3)])
def test_array_element_must_be_scalar(element: DType) -> None:
    with pytest.raises(DefinitionError, match=rf"Array\({element.name}\): lists of lists"):
        Array(element)


@pytest.mark.parametrize("element", [Int32, Int64, String, Bool])
def test_vector_element_must_be_float32_or_float64(element: DType) -> None:
    with pytest.raises(DefinitionError, match=rf"Vector element type '{element.name}'"):
        Vector(4, element)


@pytest.mark.parametrize("size", [0, -3, True, 2.0, "4"])
def test_vector_size_must_be_a_positive_integer(size: object) -> None:
    with pytest.raises(
        DefinitionError, match=rf"Vector size must be a positive integer, got {size!r}"
    ):
        Vector(size)  # type: ignore[arg-type]


@given(dtypes)
def test_parse_of_a_dtype_name_gives_back_the_dtype(dtype: DType) -> None:
    assert parse_dtype(dtype.name) == dtype
    assert parse_dtype(dtype.name.upper()) == dtype


@given(dtypes)
def test_every_dtype_maps_to_an_arrow_type_that_holds_a_null(dtype: DType) -> None:
    assert pa.array([None], type=dtype.to_arrow()).null_count == 1


def test_require_utc_converts_aware_values_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    value = require_utc(datetime(2026, 1, 1, 12, tzinfo=paris), what="start")
    assert value == datetime(2026, 1, 1, 11, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)


def test_naive_timestamp_is_an_error_not_a_guess() -> None:
    with pytest.raises(NaiveTimestampError) as info:
        require_utc(datetime(2026, 1, 1), what="end")
    message = str(info.value)
    assert message.startswith("end: naive datetime 2026-01-01T00:00:00 has no time zone.")
    assert "tzinfo=timezone.utc" in message
    assert isinstance(info.value, ParityError)
    assert isinstance(info.value, ValueError)


def test_require_utc_rejects_non_datetimes_naming_the_type() -> None:
    with pytest.raises(DefinitionError, match=r"as_of: expected a datetime, got str '2026-01-01'"):
        require_utc("2026-01-01", what="as_of")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [timedelta(0), timedelta(seconds=-1)])
def test_durations_must_be_positive(value: timedelta) -> None:
    with pytest.raises(DefinitionError) as info:
        require_positive_duration(value, what="FeatureView 'v'.ttl")
    assert str(info.value).startswith(
        f"FeatureView 'v'.ttl: must be greater than zero, got {value!r}."
    )


@pytest.mark.parametrize("value", [7, 7.0, "7d", None])
def test_durations_must_be_timedeltas(value: object) -> None:
    with pytest.raises(
        DefinitionError, match=r"ttl: expected a datetime.timedelta.*timedelta\(days=7\)"
    ):
        require_positive_duration(value, what="ttl")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "none"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=59), "59s"),
        (timedelta(days=7), "7d"),
        (timedelta(milliseconds=500), "0.5s"),
    ],
)
def test_format_duration_spells_units_compactly(value: timedelta | None, text: str) -> None:
    assert format_duration(value) == text
