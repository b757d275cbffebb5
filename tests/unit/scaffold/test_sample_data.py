"""The sample data honours the definitions that describe it, and carries a learnable label."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from parity.definitions import FeatureView, RepoContents, load_repo
from parity.scaffold import DEFAULT_ROWS, init_repo
from parity.scaffold.sample_data import HISTORY_DAYS, generate_sample_data, write_sample_data

END = datetime(2026, 3, 1, tzinfo=UTC)
START = END - timedelta(days=HISTORY_DAYS)
UTC_US = pa.timestamp("us", tz="UTC")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_repo(tmp_path_factory.mktemp("data") / "r", project="fraud", rows=6_000, end=END)


@pytest.fixture(scope="module")
def contents(repo: Path) -> RepoContents:
    return load_repo(repo)


def _source(repo: Path, view: FeatureView) -> pa.Table:
    return pq.read_table(repo / view.source.path)  # type: ignore[union-attr]


def _views(contents: RepoContents) -> list[FeatureView]:
    return [contents.views[name] for name in sorted(contents.views)]


def test_every_view_source_has_its_declared_columns_and_arrow_types(
    repo: Path, contents: RepoContents
) -> None:
    for view in _views(contents):
        schema = _source(repo, view).schema
        expected = {f.name: f.dtype.to_arrow() for e in view.entities for f in e.join_keys}
        expected |= {f.name: f.dtype.to_arrow() for f in view.schema}
        expected |= {"event_timestamp": UTC_US, "created_timestamp": UTC_US}
        actual = {name: schema.field(name).type for name in schema.names}
        assert actual == expected, view.name


def test_every_timestamp_column_is_tz_aware_utc(repo: Path) -> None:
    for path in sorted((repo / "data").glob("*.parquet")):
        schema = pq.read_schema(path)
        timestamps = [f for f in schema if pa.types.is_timestamp(f.type)]
        assert timestamps, path.name
        for field in timestamps:
            assert field.type.tz == "UTC", (path.name, field.name)


def test_contracts_hold_on_the_generated_data(repo: Path, contents: RepoContents) -> None:
    checked = 0
    for view in _views(contents):
        table = _source(repo, view)
        for field in view.schema:
            column = table.column(field.name)
            if not field.nullable:
                assert column.null_count == 0, (view.name, field.name)
            if field.min_value is not None:
                assert pc.min(column).as_py() >= field.min_value, (view.name, field.name)
                checked += 1
            if field.max_value is not None:
                assert pc.max(column).as_py() <= field.max_value, (view.name, field.name)
                checked += 1
            if field.allowed_values is not None:
                values = set(pc.unique(column).to_pylist())
                assert values <= set(field.allowed_values), (view.name, field.name)
                assert len(values) > 1, (view.name, field.name)
                checked += 1
    assert checked >= 10  # the example shows ranges and allowed values on several fields


def test_join_keys_are_never_null_and_match_the_label_table(
    repo: Path, contents: RepoContents
) -> None:
    txns = pq.read_table(repo / "data" / "transactions.parquet")
    for view in _views(contents):
        table = _source(repo, view)
        for key in view.join_keys:
            assert table.column(key).null_count == 0
            label_keys = set(pc.unique(txns.column(key)).to_pylist())
            assert label_keys <= set(pc.unique(table.column(key)).to_pylist()), view.name


def test_created_timestamp_is_never_before_the_event_timestamp(
    repo: Path, contents: RepoContents
) -> None:
    for view in _views(contents):
        table = _source(repo, view)
        later = pc.greater(table.column("created_timestamp"), table.column("event_timestamp"))
        assert pc.all(later).as_py(), view.name


def test_no_feature_row_is_later_than_the_end(repo: Path, contents: RepoContents) -> None:
    for view in _views(contents):
        assert pc.max(_source(repo, view).column("event_timestamp")).as_py() <= END


def test_label_table_has_the_documented_columns(repo: Path) -> None:
    schema = pq.read_schema(repo / "data" / "transactions.parquet")
    assert [(f.name, f.type) for f in schema] == [
        ("transaction_id", pa.int64()),
        ("user_id", pa.int64()),
        ("merchant_id", pa.int64()),
        ("amount", pa.float64()),
        ("event_timestamp", UTC_US),
        ("is_fraud", pa.bool_()),
    ]


def test_label_table_covers_the_month_before_end_in_time_order(repo: Path) -> None:
    txns = pq.read_table(repo / "data" / "transactions.parquet").to_pandas()
    assert len(txns) == 6_000
    assert txns["transaction_id"].is_unique
    assert txns["event_timestamp"].is_monotonic_increasing
    assert txns["event_timestamp"].min() >= pd.Timestamp(START)
    assert txns["event_timestamp"].max() < pd.Timestamp(END)
    assert (txns["amount"] > 0).all()
    assert 0.005 < txns["is_fraud"].mean() < 0.05


def test_entity_counts_scale_with_rows() -> None:
    tables = generate_sample_data(rows=DEFAULT_ROWS, seed=0, end=END)
    assert len(pc.unique(tables["user_profile"].column("user_id"))) == 3_000
    assert len(pc.unique(tables["merchant_risk"].column("merchant_id"))) == 1_000


def test_user_stats_count_the_transactions_of_the_seven_days_before_the_snapshot(
    repo: Path,
) -> None:
    txns = pq.read_table(repo / "data" / "transactions.parquet").to_pandas()
    stats = pq.read_table(repo / "data" / "user_transaction_stats.parquet").to_pandas()
    by_user = {user: frame for user, frame in txns.groupby("user_id")}
    for row in stats.sample(300, random_state=0).itertuples():
        frame = by_user[row.user_id]
        ts = frame["event_timestamp"]
        window = frame[
            (ts >= row.event_timestamp - pd.Timedelta(days=7)) & (ts < row.event_timestamp)
        ]
        assert row.txn_count_7d == len(window)
        assert row.amount_sum_7d == pytest.approx(window["amount"].sum(), abs=0.01)
        assert row.amount_mean_7d == pytest.approx(window["amount"].mean(), abs=0.01)
        assert row.amount_max_7d == window["amount"].max()


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve from the Mann-Whitney rank statistic."""
    ranks = pd.Series(score).rank().to_numpy()
    positives = label.sum()
    negatives = len(label) - positives
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def test_fraud_label_is_learnable_from_point_in_time_features(tmp_path: Path) -> None:
    paths = write_sample_data(tmp_path, rows=DEFAULT_ROWS, seed=3, end=END)
    txns = pq.read_table(paths["transactions"]).to_pandas()
    stats = pq.read_table(paths["user_transaction_stats"]).to_pandas()
    risk = pq.read_table(paths["merchant_risk"]).to_pandas()
    stats, risk = stats.sort_values("event_timestamp"), risk.sort_values("event_timestamp")
    frame = pd.merge_asof(
        txns, stats.drop(columns="created_timestamp"), on="event_timestamp", by="user_id"
    )
    frame = pd.merge_asof(
        frame, risk.drop(columns="created_timestamp"), on="event_timestamp", by="merchant_id"
    )
    frame = frame.dropna(subset=["amount_mean_7d", "risk_score"])
    label = frame["is_fraud"].to_numpy()
    amount_ratio = np.log(frame["amount"] / frame["amount_mean_7d"]).to_numpy()
    assert _auc(amount_ratio, label) > 0.6
    assert _auc(frame["risk_score"].to_numpy(), label) > 0.6
    assert _auc(amount_ratio + 4 * frame["risk_score"].to_numpy(), label) > 0.75


def test_same_seed_gives_equal_tables_and_another_seed_does_not() -> None:
    first = generate_sample_data(rows=1_000, seed=5, end=END)
    again = generate_sample_data(rows=1_000, seed=5, end=END)
    other = generate_sample_data(rows=1_000, seed=6, end=END)
    for name, table in first.items():
        assert table.equals(again[name]), name
        assert not table.equals(other[name]), name


def test_end_shifts_every_timestamp_and_nothing_else() -> None:
    later = END + timedelta(days=10)
    first = generate_sample_data(rows=1_000, seed=5, end=END)
    second = generate_sample_data(rows=1_000, seed=5, end=later)
    for name, table in first.items():
        shifted = second[name]
        for column in table.column_names:
            if pa.types.is_timestamp(table.schema.field(column).type):
                delta = pc.subtract(shifted.column(column), table.column(column))
                assert pc.unique(delta).to_pylist() == [timedelta(days=10)], (name, column)
            else:
                assert table.column(column).equals(shifted.column(column)), (name, column)


def test_default_size_generates_and_writes_well_under_two_seconds(tmp_path: Path) -> None:
    began = time.perf_counter()
    write_sample_data(tmp_path, rows=DEFAULT_ROWS, seed=0, end=END)
    assert time.perf_counter() - began < 2.0
