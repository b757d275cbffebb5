"""Row transforms: declaration, code fingerprints, the frame contract, registry classes."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity import FeatureService, Field, Float64, Int64, RowTransform
from parity.definitions.code_fingerprint import code_fingerprint
from parity.definitions.feature_service import check_transform_inputs
from parity.definitions.row_transform import TransformFailed, TransformSpec, input_frame
from parity.errors import DefinitionError
from parity.registry.classify import ChangeClass, classify_service
from parity.types import Bool, Int32, String


def _ratio(df: Any) -> Any:
    return {"ratio": df["amount"] / df["mean"]}


def _ratio_reformatted(df: Any) -> Any:
    """A docstring does not change what the function computes."""
    # neither does a comment, nor the layout
    return {"ratio": df["amount"] / df["mean"]}


def _ratio_changed(df: Any) -> Any:
    return {"ratio": df["amount"] / (df["mean"] + 1)}


def _transform(function: Any = _ratio, description: str = "") -> RowTransform:
    return RowTransform(
        "ratio",
        inputs=["amount", "mean"],
        outputs=[Field("ratio", Float64)],
        function=function,
        description=description,
    )


def test_fingerprint_ignores_layout_comments_docstring_and_name() -> None:
    assert code_fingerprint(_ratio) == code_fingerprint(_ratio_reformatted)


def test_fingerprint_changes_when_the_computation_changes() -> None:
    assert code_fingerprint(_ratio) != code_fingerprint(_ratio_changed)


def test_fingerprint_tells_two_lambdas_on_one_line_apart() -> None:
    first, second = (lambda df: df["a"] * 2), (lambda df: df["a"] * 3)
    assert code_fingerprint(first) != code_fingerprint(second)


FACTOR = 2.0


def _scaled(df: Any) -> Any:
    return {"ratio": df["amount"] * FACTOR}


def _helper(x: Any) -> Any:
    return x * 3


def _uses_helper(df: Any) -> Any:
    return {"ratio": _helper(df["amount"])}


def test_fingerprint_covers_captured_constants_and_helpers(monkeypatch: Any) -> None:
    before = code_fingerprint(_scaled)
    monkeypatch.setitem(globals(), "FACTOR", 3.0)
    assert code_fingerprint(_scaled) != before
    helped = code_fingerprint(_uses_helper)

    def _other_helper(x: Any) -> Any:
        return x * 4

    monkeypatch.setitem(globals(), "_helper", _other_helper)
    assert code_fingerprint(_uses_helper) != helped


def test_description_on_the_same_line_as_a_lambda_does_not_change_the_fingerprint() -> None:
    a = RowTransform("r", inputs=["x"], outputs=[Field("y", Float64)], function=lambda df: {"y": df["x"]}, description="one")  # noqa: E501  # fmt: skip
    b = RowTransform("r", inputs=["x"], outputs=[Field("y", Float64)], function=lambda df: {"y": df["x"]}, description="two")  # noqa: E501  # fmt: skip
    assert a.function_sha256 == b.function_sha256


def test_input_frame_types_follow_the_arrow_type_not_the_data() -> None:
    with_nulls = input_frame({"n": pa.array([1, None]), "b": pa.array([True, None])})
    without = input_frame({"n": pa.array([1, 2]), "b": pa.array([True, False])})
    assert with_nulls.dtypes.to_dict() == without.dtypes.to_dict()
    assert str(with_nulls.dtypes["n"]) == "Int64" and str(with_nulls.dtypes["b"]) == "boolean"
    floats = input_frame({"f": pa.array([None, 1.5])})
    assert str(floats.dtypes["f"]) == "float64" and math.isnan(floats["f"][0])


def test_non_finite_float_outputs_are_null() -> None:
    out = _transform().apply(
        pa.table({"amount": [1.0, 0.0, -1.0, 2.0], "mean": [0.0, 0.0, 0.0, 4.0]})
    )
    assert out.column("ratio").to_pylist() == [None, None, None, 0.5]


def test_outputs_are_cast_to_their_declared_dtype_and_lossy_casts_fail() -> None:
    count = RowTransform(
        "c",
        inputs=["n"],
        outputs=[Field("twice", Int64)],
        function=lambda df: {"twice": df["n"] * 2},
    )
    out = count.apply(pa.table({"n": pa.array([1, None], pa.int32())}))
    assert out.schema.field("twice").type == pa.int64()
    assert out.column("twice").to_pylist() == [2, None]
    halve = RowTransform(
        "h", inputs=["n"], outputs=[Field("half", Int64)], function=lambda df: {"half": df["n"] / 2}
    )
    with pytest.raises(TransformFailed, match=r"'half'.*int64"):
        halve.apply(pa.table({"n": [3]}))


def test_a_function_that_raises_is_reported_with_the_transform_name() -> None:
    broken = RowTransform(
        "broken", inputs=["a"], outputs=[Field("b", Float64)], function=lambda df: 1 / 0
    )
    with pytest.raises(TransformFailed, match="'broken' raised ZeroDivisionError"):
        broken.apply(pa.table({"a": [1.0]}))


def test_a_function_returning_the_wrong_length_is_refused() -> None:
    agg = RowTransform(
        "agg", inputs=["a"], outputs=[Field("m", Float64)], function=lambda df: {"m": [1.0]}
    )
    with pytest.raises(TransformFailed, match="1 values, expected 2"):
        agg.apply(pa.table({"a": [1.0, 2.0]}))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(allow_nan=False, width=64)),
            st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_a_row_gets_the_same_outputs_alone_as_inside_a_frame(rows: list[Any]) -> None:
    transform = RowTransform(
        "mix",
        inputs=["x", "n"],
        outputs=[Field("q", Float64), Field("n2", Int64)],
        function=lambda df: {"q": df["x"] / df["n"], "n2": df["n"] * 2},
    )
    table = pa.table(
        {"x": pa.array([r[0] for r in rows], pa.float64()), "n": pa.array([r[1] for r in rows])}
    )
    whole = transform.apply(table).select(["q", "n2"]).to_pylist()
    alone = [
        transform.apply(table.slice(i, 1)).select(["q", "n2"]).to_pylist()[0]
        for i in range(len(rows))
    ]
    assert whole == alone


def test_service_carries_transforms_and_request_schema_in_its_canonical_form() -> None:
    service = FeatureService(
        "fraud",
        features=["stats:mean"],
        request_schema=[Field("amount", Float64)],
        transforms=[_transform()],
    )
    spec = service.to_dict()
    assert [t["name"] for t in spec["transforms"]] == ["ratio"]
    assert spec["request_schema"][0]["name"] == "amount"
    rebuilt = FeatureService.from_dict(spec)
    assert rebuilt.to_dict() == spec
    assert isinstance(rebuilt.transforms[0], TransformSpec)
    assert service.transform_output_names == ("ratio",)


def test_service_without_transforms_keeps_its_canonical_form() -> None:
    assert "transforms" not in FeatureService("s", features=["v"]).to_dict()
    assert "request_schema" not in FeatureService("s", features=["v"]).to_dict()


def test_transform_output_may_not_shadow_a_request_field_or_another_output() -> None:
    with pytest.raises(DefinitionError, match="already a request field"):
        FeatureService(
            "s", features=["v"], request_schema=[Field("ratio", Float64)], transforms=[_transform()]
        )
    with pytest.raises(DefinitionError, match="output of transform 'ratio'"):
        FeatureService(
            "s",
            features=["v"],
            transforms=[
                _transform(),
                RowTransform(
                    "again", inputs=["a"], outputs=[Field("ratio", Float64)], function=_ratio
                ),
            ],
        )


def test_request_fields_must_be_scalars_and_unique() -> None:
    from parity.types import Array

    with pytest.raises(DefinitionError, match="request fields are scalars"):
        FeatureService("s", features=["v"], request_schema=[Field("xs", Array(Int64))])
    with pytest.raises(DefinitionError, match="declared twice"):
        FeatureService("s", features=["v"], request_schema=[Field("a", Int32), Field("a", String)])


def test_transform_inputs_must_name_a_feature_a_request_field_or_an_earlier_output() -> None:
    spec = FeatureService(
        "fraud",
        features=["stats:mean"],
        request_schema=[Field("amount", Float64)],
        transforms=[
            _transform(),
            RowTransform(
                "flag",
                inputs=["ratio", "stats:mean"],
                outputs=[Field("high", Bool)],
                function=_ratio,
            ),
        ],
    ).to_dict()
    check_transform_inputs(spec, [("stats", "mean", "mean")])
    with pytest.raises(
        DefinitionError, match=r"reads 'mean'.*Add it to features= or request_schema="
    ):
        check_transform_inputs(spec, [("stats", "avg", "avg")])
    with pytest.raises(DefinitionError, match="also a view feature"):
        check_transform_inputs(spec, [("stats", "mean", "mean"), ("other", "ratio", "ratio")])


def _service(transform: RowTransform, request: str = "") -> dict[str, Any]:
    return FeatureService(
        "fraud",
        features=["stats:mean"],
        request_schema=[Field("amount", Float64, description=request)],
        transforms=[transform],
    ).to_dict()


def test_changed_transform_function_is_breaking_and_names_both_fingerprints() -> None:
    old, new = _service(_transform()), _service(_transform(_ratio_changed))
    change, diffs = classify_service(old, new)
    assert change is ChangeClass.BREAKING
    (diff,) = [d for d in diffs if d.path == "transforms.ratio.function_sha256"]
    assert diff.old == code_fingerprint(_ratio) and diff.new == code_fingerprint(_ratio_changed)


def test_reformatted_transform_function_is_unchanged() -> None:
    old, new = _service(_transform()), _service(_transform(_ratio_reformatted))
    assert classify_service(old, new)[0] is ChangeClass.UNCHANGED


def test_changed_transform_or_request_description_is_metadata() -> None:
    old = _service(_transform(description="a"), request="x")
    assert classify_service(old, _service(_transform(description="b"), request="x"))[0] is (
        ChangeClass.METADATA
    )
    assert classify_service(old, _service(_transform(description="a"), request="y"))[0] is (
        ChangeClass.METADATA
    )


def test_changed_transform_output_dtype_or_request_dtype_is_breaking() -> None:
    old = _service(_transform())
    typed = RowTransform(
        "ratio", inputs=["amount", "mean"], outputs=[Field("ratio", Int64)], function=_ratio
    )
    assert classify_service(old, _service(typed))[0] is ChangeClass.BREAKING
    other = FeatureService(
        "fraud",
        features=["stats:mean"],
        request_schema=[Field("amount", Int64)],
        transforms=[_transform()],
    ).to_dict()
    assert classify_service(old, other)[0] is ChangeClass.BREAKING


def test_adding_a_transform_to_a_service_is_breaking() -> None:
    plain = FeatureService("fraud", features=["stats:mean"]).to_dict()
    assert classify_service(plain, _service(_transform()))[0] is ChangeClass.BREAKING
