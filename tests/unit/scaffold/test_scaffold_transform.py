"""The scaffold's ``fraud_realtime`` service: its row transform in training and serving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from parity import FeatureStore
from parity.config import load_config
from parity.errors import SchemaMismatch
from parity.scaffold import init_repo


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    root = tmp_path_factory.mktemp("scaffold_tx") / "repo"
    init_repo(root, project="scaffold_tx", rows=400)
    built = FeatureStore(root, config=load_config(root, environ={}))
    built.apply(message="first")
    end = datetime.now(UTC)
    for report in built.materialize(end - timedelta(days=400), end):
        built.promote(report.ref, message="test", force=True)
    return built


def test_training_set_of_the_transactions_has_amount_vs_mean_computed_per_row(
    store: FeatureStore,
) -> None:
    transactions = pq.read_table(store.repo_path / "data" / "transactions.parquet")
    frame = store.get_historical_features(transactions, feature_service="fraud_realtime")
    table = frame.to_arrow()
    assert table.column_names[-4:] == [
        "amount_mean_7d",
        "txn_count_7d",
        "risk_score",
        "amount_vs_mean_7d",
    ]
    expected = pc.divide(table.column("amount"), table.column("amount_mean_7d"))
    assert table.column("amount_vs_mean_7d").to_pylist() == expected.to_pylist()
    assert table.column("amount_vs_mean_7d").null_count < table.num_rows


def test_serving_needs_the_amount_and_divides_it_by_the_served_mean(
    store: FeatureStore,
) -> None:
    row = {"user_id": 1, "merchant_id": 1}
    with pytest.raises(SchemaMismatch, match="request field 'amount'"):
        store.get_online_features(feature_service="fraud_realtime", entity_rows=[row])
    served = store.get_online_features(
        feature_service="fraud_realtime", entity_rows=[{**row, "amount": 90.0}]
    ).to_dict()
    mean = served["amount_mean_7d"][0]
    assert served["amount_vs_mean_7d"] == [None if not mean else 90.0 / mean]


def test_the_original_service_is_unchanged_and_needs_no_request_field(
    store: FeatureStore,
) -> None:
    response = store.get_online_features(
        feature_service="fraud_detection", entity_rows=[{"user_id": 1, "merchant_id": 1}]
    )
    assert "amount_vs_mean_7d" not in response.feature_names
