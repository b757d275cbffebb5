"""Aggregation and row-transform definitions: validation, canonical form, versions."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from parity import Entity, FeatureView, Field, Float64, Int64, ParquetSource, String
from parity.definitions import Aggregation, AggregationFunction, RowTransform
from parity.definitions.row_transform import TransformFailed
from parity.errors import DefinitionError
from parity.registry.classify import ChangeClass, classify_view


@pytest.fixture
def user() -> Entity:
    return Entity("user", join_keys=[Field("user_id", Int64)])


def _view(user: Entity, *aggs: Aggregation, **extra: object) -> FeatureView:
    return FeatureView(
        "txn_stats",
        entities=[user],
        source=ParquetSource("data/txns.parquet", timestamp_field="ts"),
        aggregations=list(aggs),
        **extra,  # type: ignore[arg-type]
    )


def test_output_dtypes_follow_function_and_input() -> None:
    day = timedelta(days=1)
    assert Aggregation("a", "count", day).output_dtype == Int64
    assert Aggregation("a", "sum", day, dtype=Int64).output_dtype == Int64
    assert Aggregation("a", "sum", day).output_dtype == Float64
    assert Aggregation("a", "mean", day, dtype=Int64).output_dtype == Float64
    assert Aggregation("a", "max", day, dtype=String).output_dtype == String
    assert Aggregation("a", "count_distinct", day, dtype=String).output_dtype == Int64


def test_default_names_spell_column_function_and_window() -> None:
    assert Aggregation("amount", "sum", timedelta(days=7)).name == "amount_sum_7d"
    assert Aggregation("amount", "last", timedelta(seconds=90)).name == "amount_last_90s"
    assert Aggregation("amount", AggregationFunction.MIN, timedelta(hours=2)).name == (
        "amount_min_2h"
    )


def test_bad_aggregations_are_refused_with_the_fix() -> None:
    with pytest.raises(DefinitionError, match="Did you mean 'mean'"):
        Aggregation("a", "meen", timedelta(days=1))
    with pytest.raises(DefinitionError, match="numeric input"):
        Aggregation("a", "sum", timedelta(days=1), dtype=String)
    with pytest.raises(DefinitionError, match="greater than zero"):
        Aggregation("a", "sum", timedelta(0))


def test_schema_is_derived_or_checked(user: Entity) -> None:
    agg = Aggregation("amount", "mean", timedelta(days=30), name="avg_30d")
    assert [(f.name, f.dtype) for f in _view(user, agg).schema] == [("avg_30d", Float64)]
    checked = _view(user, agg, schema=[Field("avg_30d", Float64, min_value=0)])
    assert checked.field("avg_30d").min_value == 0
    with pytest.raises(DefinitionError, match="produces float64"):
        _view(user, agg, schema=[Field("avg_30d", Int64)])
    with pytest.raises(DefinitionError, match="features are its aggregations"):
        _view(user, agg, schema=[Field("other", Float64)])


def test_same_column_needs_one_dtype_and_names_are_unique(user: Entity) -> None:
    day = timedelta(days=1)
    with pytest.raises(DefinitionError, match="one column has one dtype"):
        _view(user, Aggregation("a", "max", day, dtype=Int64), Aggregation("a", "min", day))
    with pytest.raises(DefinitionError, match="produced twice"):
        _view(user, Aggregation("a", "max", day, name="x"), Aggregation("a", "min", day, name="x"))


def test_view_round_trips_through_its_canonical_form(user: Entity) -> None:
    view = _view(user, Aggregation("amount", "sum", timedelta(days=7)), ttl=timedelta(days=1))
    assert FeatureView.from_dict(view.to_dict()) == view
    assert view.to_dict()["aggregations"][0]["function"] == "sum"


def test_views_without_aggregations_keep_their_canonical_form(user: Entity) -> None:
    plain = FeatureView(
        "plain",
        entities=[user],
        schema=[Field("x", Float64)],
        source=ParquetSource("p.parquet", timestamp_field="ts"),
    )
    assert "aggregations" not in plain.to_dict()


@pytest.mark.parametrize(
    "changed",
    [
        Aggregation("amount", "sum", timedelta(days=8), name="spend"),
        Aggregation("amount", "mean", timedelta(days=7), name="spend"),
        Aggregation("total", "sum", timedelta(days=7), name="spend"),
    ],
)
def test_changing_an_aggregation_is_breaking(user: Entity, changed: Aggregation) -> None:
    old = _view(user, Aggregation("amount", "sum", timedelta(days=7), name="spend"))
    new = _view(user, changed)
    change, diffs = classify_view(old.to_dict(), new.to_dict())
    assert change is ChangeClass.BREAKING
    assert any(d.path == "aggregations" for d in diffs)


def test_adding_aggregations_to_a_plain_view_is_breaking(user: Entity) -> None:
    agg = Aggregation("amount", "sum", timedelta(days=7), name="spend")
    with_aggs = _view(user, agg)
    plain = FeatureView(
        "txn_stats",
        entities=[user],
        schema=[Field("spend", Float64)],
        source=ParquetSource("data/txns.parquet", timestamp_field="ts"),
    )
    assert classify_view(plain.to_dict(), with_aggs.to_dict())[0] is ChangeClass.BREAKING


def test_row_transform_is_vectorised_and_typed() -> None:
    calls: list[int] = []

    def ratio(df):  # type: ignore[no-untyped-def]
        calls.append(len(df))
        return {"ratio": df["amount"] / df["avg"]}

    transform = RowTransform(
        "ratio", inputs=["amount", "avg"], outputs=[Field("ratio", Float64)], function=ratio
    )
    table = pa.table({"amount": [1.0, 4.0, None], "avg": [2.0, 2.0, 1.0], "k": [1, 2, 3]})
    out = transform.apply(table)
    assert out.column("ratio").to_pylist() == [0.5, 2.0, None]
    assert out.column_names == ["amount", "avg", "k", "ratio"]
    assert calls == [3]  # one call for the whole frame, never per row
    assert transform.to_dict()["function_sha256"]


def test_row_transform_reports_missing_inputs_and_outputs() -> None:
    transform = RowTransform(
        "r", inputs=["a"], outputs=[Field("b", Float64)], function=lambda df: {"c": df["a"]}
    )
    with pytest.raises(DefinitionError, match="needs column"):
        transform.apply(pa.table({"x": [1.0]}))
    with pytest.raises(TransformFailed, match="did not return output 'b'"):
        transform.apply(pa.table({"a": [1.0]}))


def test_row_transform_gives_the_same_values_on_a_training_frame_and_on_one_request() -> None:
    ratio = RowTransform(
        "amount_ratio",
        inputs=["amount", "avg_amount_30d"],
        outputs=[Field("amount_ratio", Float64)],
        function=lambda df: {"amount_ratio": df["amount"] / df["avg_amount_30d"]},
    )
    frame = pa.table({"amount": [10.0, 3.0, 7.5, None], "avg_amount_30d": [4.0, 0.5, 2.5, 1.0]})
    offline = ratio.apply(frame).column("amount_ratio").to_pylist()
    online = [
        ratio.apply(frame.slice(n, 1)).column("amount_ratio").to_pylist()[0]
        for n in range(frame.num_rows)
    ]
    assert offline == online == [2.5, 6.0, 3.0, None]
