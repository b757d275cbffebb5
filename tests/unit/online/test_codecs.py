"""Key and value bytes: the orders and equalities the online backends rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity.errors import SchemaMismatch
from parity.online.base import ViewTable
from parity.online.codec import TableCodec
from parity.online.entity_keys import EntityKeyCodec
from parity.online.list_codec import decode_list, encode_list
from parity.online.value_codec import ValueCodec
from parity.types import DType, parse_dtype

US_UTC = pa.timestamp("us", tz="UTC")
micros = st.integers(-(2**62), 2**62)
aware = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
KEY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "string": st.text(),
    "bytes": st.binary(),
    "bool": st.booleans(),
    "timestamp": aware,
}


def features(**dtypes: str) -> tuple[tuple[str, DType], ...]:
    return tuple((name, parse_dtype(t)) for name, t in dtypes.items())


@given(st.tuples(micros, st.none() | micros), st.tuples(micros, st.none() | micros))
def test_value_bytes_order_is_the_event_then_created_order(
    a: tuple[int, int | None], b: tuple[int, int | None]
) -> None:
    codec = ValueCodec(features(x="int64"))
    ea = codec.encode_one((0,), event_us=a[0], created_us=a[1])
    eb = codec.encode_one((0,), event_us=b[0], created_us=b[1])

    def order(t: tuple[int, int | None]) -> tuple[int, int, int]:
        return (t[0], 0 if t[1] is None else 1, t[1] or 0)

    assert (ea < eb) == (order(a) < order(b))
    assert (ea == eb) == (order(a) == order(b))


@given(st.lists(st.tuples(st.sampled_from(sorted(KEY_VALUES)), st.data()), min_size=1, max_size=3))
def test_python_and_arrow_key_bytes_agree(parts: list[tuple[str, Any]]) -> None:
    join_keys = tuple((f"k{i}", parse_dtype(kind)) for i, (kind, _) in enumerate(parts))
    key = tuple(data.draw(KEY_VALUES[kind]) for kind, data in parts)
    codec = EntityKeyCodec(join_keys)
    columns = [
        pa.chunked_array([pa.array([value], dtype.to_arrow())])
        for value, (_, dtype) in zip(key, join_keys, strict=True)
    ]
    assert codec.encode_columns(columns).to_pylist() == [codec.encode(key)]


@given(st.lists(st.tuples(st.text(max_size=3), st.text(max_size=3)), min_size=2, max_size=6))
def test_distinct_composite_keys_never_share_bytes(keys: list[tuple[str, str]]) -> None:
    codec = EntityKeyCodec(features(a="string", b="string"))
    encoded = {codec.encode(k): k for k in keys}
    assert len(encoded) == len(set(keys))


def test_key_of_the_wrong_type_is_refused_with_the_type() -> None:
    codec = EntityKeyCodec(features(id="int64"))
    with pytest.raises(
        SchemaMismatch, match=r"1\.5 \(float\) does not match .* int64\. Pass an? int"
    ):
        codec.encode((1.5,))
    with pytest.raises(SchemaMismatch, match="Pass a bool"):
        EntityKeyCodec(features(flag="bool")).encode((1,))
    with pytest.raises(SchemaMismatch, match="join key type string"):
        EntityKeyCodec(features(name="string")).encode((b"x",))


LIST_ELEMENTS: dict[str, st.SearchStrategy[Any]] = {
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "float64": st.floats(allow_nan=False),
    "float32": st.floats(width=32, allow_nan=False),
    "bool": st.booleans(),
    "string": st.text(),
    "bytes": st.binary(),
    "timestamp": aware,
}


@given(
    st.sampled_from(sorted(LIST_ELEMENTS)).flatmap(
        lambda kind: st.tuples(st.just(kind), st.lists(st.none() | LIST_ELEMENTS[kind], max_size=8))
    )
)
def test_list_values_round_trip(case: tuple[str, list[Any]]) -> None:
    kind, items = case
    element = parse_dtype(kind)
    assert decode_list(encode_list(items, element), element) == items


def test_value_with_more_features_than_the_view_is_refused() -> None:
    wide = ValueCodec(features(a="int64", b="int64"))
    value = wide.encode_one((1, 2), event_us=0, created_us=None)
    with pytest.raises(SchemaMismatch, match="Features may only be appended"):
        ValueCodec(features(a="int64")).decode(value)


def test_vector_with_null_elements_is_refused() -> None:
    table = ViewTable.build(
        "p", "v", 1, join_keys={"id": "int64"}, features={"e": "vector<float32,2>"}
    )
    rows = pa.table(
        {
            "id": [1],
            "e": pa.array([[1.0, None]], pa.list_(pa.float32(), 2)),
            "event_timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)], US_UTC),
        }
    )
    with pytest.raises(SchemaMismatch, match="'e' has null elements"):
        TableCodec(table).encode_batch(rows)


def test_batch_keeps_one_greatest_value_per_key() -> None:
    table = ViewTable.build("p", "v", 1, join_keys={"id": "int64"}, features={"x": "int64"})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pa.table(
        {
            "id": [1, 2, 1, 1],
            "x": [10, 20, 30, 40],
            "event_timestamp": pa.array([t0, t0, t0 + timedelta(1), t0], US_UTC),
        }
    )
    codec = TableCodec(table)
    batch = codec.encode_batch(rows)
    assert batch.rows == 4
    decoded = {
        k: codec.decode(v).values
        for k, v in zip(batch.keys.to_pylist(), batch.values.to_pylist(), strict=True)
    }
    assert decoded == {b"1": (30,), b"2": (20,)}


def test_decoder_is_straight_line_code_over_indices_only() -> None:
    codec = ValueCodec(features(secret_name="string", x="float64"))
    assert "secret_name" not in codec.decoder_source
    assert "for " not in codec.decoder_source


def test_value_of_an_unknown_layout_is_refused_with_the_fix() -> None:
    codec = ValueCodec(features(a="int64"))
    value = bytearray(codec.encode_one((1,), event_us=0, created_us=None))
    value[16] = 99
    with pytest.raises(SchemaMismatch, match=r"layout 99.*Upgrade parity"):
        codec.decode(bytes(value))
