"""Sources: Parquet and Delta tables, and push sources backed by one of them."""

from __future__ import annotations

import pytest

from parity import DeltaSource, ParquetSource, PushSource
from parity.definitions.source import source_from_dict
from parity.errors import DefinitionError


def test_batch_source_defaults() -> None:
    source = ParquetSource("data/t.parquet")
    assert source.timestamp_field == "event_timestamp"
    assert source.created_timestamp_field is None
    assert source.field_mapping == {}


@pytest.mark.parametrize("path", ["", "   ", None, 3])
def test_path_must_be_a_non_empty_string(path: object) -> None:
    with pytest.raises(DefinitionError) as info:
        ParquetSource(path)  # type: ignore[arg-type]
    assert str(info.value) == f"ParquetSource({path!r}).path: expected a non-empty path string."


@pytest.mark.parametrize("attribute", ["timestamp_field", "created_timestamp_field"])
def test_timestamp_columns_must_be_identifiers(attribute: str) -> None:
    with pytest.raises(DefinitionError) as info:
        DeltaSource("t", **{attribute: "event time"})  # type: ignore[arg-type]
    assert str(info.value).startswith(f"DeltaSource('t').{attribute}: invalid name 'event time'.")


def test_created_timestamp_must_be_its_own_column() -> None:
    with pytest.raises(DefinitionError) as info:
        ParquetSource("t", timestamp_field="ts", created_timestamp_field="ts")
    assert str(info.value) == (
        "ParquetSource('t'): created_timestamp_field and timestamp_field are both 'ts'; "
        "the created timestamp must be its own column (or None)."
    )


def test_field_mapping_must_be_a_dict() -> None:
    with pytest.raises(
        DefinitionError, match=r"ParquetSource\('t'\).field_mapping: expected a dict"
    ):
        ParquetSource("t", field_mapping=[("a", "b")])  # type: ignore[arg-type]


def test_field_mapping_names_must_be_identifiers() -> None:
    with pytest.raises(DefinitionError) as info:
        ParquetSource("t", field_mapping={"amt": "amount-eur"})
    assert str(info.value).startswith(
        "ParquetSource('t').field_mapping['amt']: invalid name 'amount-eur'."
    )
    with pytest.raises(DefinitionError, match=r"field_mapping key: invalid name 3"):
        ParquetSource("t", field_mapping={3: "a", "b": "c"})  # type: ignore[dict-item]


def test_two_columns_may_not_map_to_one_feature() -> None:
    with pytest.raises(DefinitionError) as info:
        ParquetSource("t", field_mapping={"a": "x", "b": "x", "c": "y"})
    assert str(info.value) == (
        "ParquetSource('t').field_mapping: several source columns map to ['x']; each feature "
        "name may be the target of one column only."
    )


def test_column_for_follows_the_field_mapping() -> None:
    source = ParquetSource("t", field_mapping={"amt": "amount"})
    assert source.column_for("amount") == "amt"
    assert source.column_for("other") == "other"


def test_push_source_needs_a_batch_source() -> None:
    with pytest.raises(DefinitionError) as info:
        PushSource("clicks", batch_source="data/clicks")  # type: ignore[arg-type]
    assert str(info.value) == (
        "PushSource 'clicks'.batch_source: expected a ParquetSource or DeltaSource, "
        "got 'data/clicks'."
    )


def test_push_source_name_must_be_an_identifier() -> None:
    with pytest.raises(DefinitionError, match=r"^PushSource name: invalid name 'click stream'"):
        PushSource("click stream", batch_source=DeltaSource("t"))


def test_push_source_reads_its_columns_through_the_batch_source() -> None:
    batch = DeltaSource(
        "t", timestamp_field="ts", created_timestamp_field="written", field_mapping={"a": "b"}
    )
    push = PushSource("p", batch_source=batch)
    assert (push.timestamp_field, push.created_timestamp_field) == ("ts", "written")
    assert push.field_mapping == {"a": "b"}
    assert push.column_for("b") == "a"


def test_source_to_dict_is_canonical() -> None:
    source = ParquetSource(
        "data/t.parquet",
        timestamp_field="ts",
        created_timestamp_field="created",
        field_mapping={"z": "zz", "a": "aa"},
        description="Spend.",
    )
    assert source.to_dict() == {
        "type": "parquet",
        "path": "data/t.parquet",
        "timestamp_field": "ts",
        "created_timestamp_field": "created",
        "field_mapping": {"a": "aa", "z": "zz"},
        "description": "Spend.",
    }
    assert list(source.to_dict()["field_mapping"]) == ["a", "z"]


@pytest.mark.parametrize(
    "source",
    [
        ParquetSource("a.parquet"),
        DeltaSource("d", timestamp_field="ts", created_timestamp_field="c", description="x"),
        ParquetSource("m", field_mapping={"src": "dst"}),
        PushSource("p", batch_source=DeltaSource("d", timestamp_field="ts"), description="y"),
    ],
)
def test_source_round_trips_through_its_canonical_form(
    source: ParquetSource | DeltaSource | PushSource,
) -> None:
    again = source_from_dict(source.to_dict())
    assert again == source
    assert type(again) is type(source)
    assert again.to_dict() == source.to_dict()


def test_parquet_and_delta_sources_of_one_path_differ() -> None:
    assert ParquetSource("t") != DeltaSource("t")
    assert ParquetSource("t").to_dict()["type"] == "parquet"
    assert DeltaSource("t").to_dict()["type"] == "delta"
