"""Row validation: every rule of the contract, and nothing valid is rejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parity as p
from parity.errors import NaiveTimestampError, SchemaMismatch
from parity.sync.validate import validate_rows

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = p.FeatureView(
    "profile",
    entities=[USER],
    schema=[
        p.Field("age", p.Int32, nullable=False, min_value=18, max_value=120),
        p.Field("country", p.String, allowed_values=["DE", "FR"]),
        p.Field("email", p.String, regex=r"[a-z]+@[a-z]+\.com"),
        p.Field("score", p.Float64, min_value=0.0, max_value=1.0),
    ],
    source=p.ParquetSource("p.parquet", timestamp_field="ts"),
)


def table(**columns: Any) -> pa.Table:
    n = len(next(iter(columns.values())))
    base: dict[str, Any] = {
        "user_id": list(range(n)),
        "age": [30] * n,
        "country": ["DE"] * n,
        "email": ["a@b.com"] * n,
        "score": [0.5] * n,
        "event_timestamp": pa.array([NOW] * n, TS),
    }
    base.update(columns)
    return pa.table(base)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("age", 17, "age=17 is below min_value 18"),
        ("age", 121, "age=121 is above max_value 120"),
        ("age", None, "age=None is null but the field is not nullable"),
        ("country", "US", "country='US' is not an allowed value"),
        ("email", "A@B.COM", r"does not match regex"),
        ("score", float("nan"), "score=nan is NaN"),
        ("user_id", None, "join key user_id is null"),
    ],
)
def test_each_contract_rule_rejects_the_row_with_a_reason(
    column: str, value: Any, reason: str
) -> None:
    values: list[Any] = [table(user_id=[0]).column(column)[0].as_py(), value]
    result = validate_rows(VIEW, table(**{column: values}), now=NOW)
    assert result.valid.num_rows == 1
    assert result.rejected_count == 1
    assert reason in result.reasons[0].as_py()


def test_a_row_failing_several_rules_lists_every_reason() -> None:
    result = validate_rows(VIEW, table(age=[5], country=["XX"]), now=NOW)
    reason = result.reasons[0].as_py()
    assert (
        "age=5 is below min_value 18" in reason and "country='XX' is not an allowed value" in reason
    )
    assert result.rule_counts() == {
        "age is below min_value 18": 1,
        "country is not an allowed value": 1,
    }


def test_event_time_beyond_the_future_tolerance_is_rejected() -> None:
    times = pa.array([NOW + timedelta(minutes=4), NOW + timedelta(minutes=6)], TS)
    result = validate_rows(
        VIEW, table(event_timestamp=times), now=NOW, future_tolerance=timedelta(minutes=5)
    )
    assert result.valid.num_rows == 1
    assert "in the future" in result.reasons[0].as_py()


def test_value_of_the_wrong_type_rejects_only_that_row() -> None:
    result = validate_rows(VIEW, table(age=["31", "old"]), now=NOW)
    assert result.valid.column("age").to_pylist() == [31]
    assert result.reasons[0].as_py() == "age='old' is not a int32"


def test_missing_column_and_naive_timestamps_fail_the_whole_batch() -> None:
    with pytest.raises(SchemaMismatch, match=r"lack column\(s\) \['age'\]"):
        validate_rows(VIEW, table(age=[1]).drop(["age"]), now=NOW)
    naive = pa.array([datetime(2026, 1, 1)], pa.timestamp("us"))
    with pytest.raises(NaiveTimestampError, match="event_timestamp"):
        validate_rows(VIEW, table(event_timestamp=naive), now=NOW)


def test_valid_rows_come_out_typed_in_canonical_order() -> None:
    result = validate_rows(VIEW, table(age=[40]), now=NOW)
    assert result.valid.column_names == [
        "user_id",
        "age",
        "country",
        "email",
        "score",
        "event_timestamp",
    ]
    assert result.valid.schema.field("age").type == pa.int32()
    assert result.rejected_count == 0


def test_missing_nullable_feature_reads_as_null() -> None:
    result = validate_rows(VIEW, table(age=[40]).drop(["score"]), now=NOW)
    assert result.valid.column("score").to_pylist() == [None]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-5, 200)),
            st.sampled_from(["DE", "FR", "US", None]),
            st.one_of(st.none(), st.floats(-1, 2), st.just(float("nan"))),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_split_matches_a_plain_python_oracle(rows: list[tuple[Any, Any, Any]]) -> None:
    def ok(age: Any, country: Any, score: Any) -> bool:
        if age is None or not 18 <= age <= 120:
            return False
        if country is not None and country not in ("DE", "FR"):
            return False
        return score is None or (score == score and 0.0 <= score <= 1.0)

    ages, countries, scores = (list(c) for c in zip(*rows, strict=True))
    result = validate_rows(VIEW, table(age=ages, country=countries, score=scores), now=NOW)
    expected = [i for i, r in enumerate(rows) if ok(*r)]
    assert result.valid.column("user_id").to_pylist() == expected
    assert result.valid.num_rows + result.rejected_count == len(rows)


def test_an_empty_batch_validates_to_empty_tables() -> None:
    result = validate_rows(VIEW, table(age=[40]).slice(0, 0), now=NOW)
    assert (result.valid.num_rows, result.rejected_count) == (0, 0)
