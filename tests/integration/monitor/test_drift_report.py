"""Drift of served vectors (written by the server's request log) against the profile saved
beside a training dataset; the CLI's JSON and HTML reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parity.monitor.audit import ConsistencyStatus
from parity.monitor.drift import DriftStatus, compare_to_reference
from parity.monitor.profile import load_profile, load_reference_sample, save_profile
from parity.monitor.served import request_log_root, served_drift, served_window
from parity.monitor.served_audit import audit_served
from parity.offline.base import ViewReadSpec
from parity.online.base import ViewTable
from parity.serve.config import RequestLogConfig
from parity.serve.metrics import ServerMetrics
from parity.serve.request_log import RequestLog
from parity.store import FeatureStore

VIEW_VERSIONS = ("user_transaction_stats@v1", "user_profile@v1", "merchant_risk@v1")
FEATURES = {
    "amount_mean_7d", "amount_max_7d", "txn_count_7d", "account_age_days", "country",
    "category", "chargeback_rate", "risk_score",
}  # fmt: skip


@pytest.fixture(scope="module")
def served(fraud_store: FeatureStore) -> pa.Table:
    """Save a training set, then serve 400 vectors through the real request log."""
    store = fraud_store
    transactions = pq.read_table(store.repo_path / "data/transactions.parquet")
    store.get_historical_features(transactions, feature_service="fraud_detection").save(
        "fraud_train"
    )
    log = RequestLog(request_log_root(store.offline_path), RequestLogConfig(), ServerMetrics())
    log.start()
    rows = transactions.select(["user_id", "merchant_id"]).slice(0, 400).to_pylist()
    plan = store.serving_plan(feature_service="fraud_detection")
    frames = []
    for i in range(0, len(rows), 50):
        response = store.get_online_features(
            feature_service="fraud_detection", entity_rows=rows[i : i + 50]
        )
        log.record(response, request_id=f"r{i}", plan=plan)
        frames.append(response.to_arrow())
    log.close()
    return pa.concat_tables(frames)


def test_profile_is_saved_beside_the_dataset_with_only_feature_columns(
    fraud_store: FeatureStore, served: pa.Table
) -> None:
    dataset = fraud_store.offline_engine.get_saved_dataset("fraud_train")
    profile = save_profile(dataset)
    assert set(profile.feature_names) == FEATURES
    assert load_profile(dataset.path) == profile
    frame = dataset.to_arrow()
    amounts = frame.column("amount_max_7d").drop_null().to_numpy()
    deciles = np.unique(np.quantile(amounts, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))
    assert profile.feature("amount_max_7d").edges == pytest.approx(tuple(deciles))
    assert profile.feature("country").kind == "categorical"
    sample = load_reference_sample(dataset.path, profile)
    assert sample is not None and sample.num_rows == min(frame.num_rows, 20_000)


def test_request_log_window_holds_exactly_the_served_values(
    fraud_store: FeatureStore, served: pa.Table
) -> None:
    kinds = {"amount_max_7d": "numeric", "country": "categorical", "txn_count_7d": "numeric"}
    window = served_window(fraud_store.offline_path, kinds=kinds, service="fraud_detection")
    assert window.num_rows == served.num_rows

    def triples(table: pa.Table) -> list[tuple[object, ...]]:
        columns = [table.column(n).to_pylist() for n in kinds]
        return sorted(
            (tuple("null" if v is None else str(float(v) if isinstance(v, int) else v)
                   for v in row) for row in zip(*columns, strict=True)),
        )  # fmt: skip

    assert triples(window) == triples(served)


def test_served_drift_equals_drift_of_the_served_frame(
    fraud_store: FeatureStore, served: pa.Table
) -> None:
    report = served_drift(fraud_store.offline_path, "fraud_train", service="fraud_detection")
    dataset = fraud_store.offline_engine.get_saved_dataset("fraud_train")
    profile = load_profile(dataset.path)
    direct = compare_to_reference(
        profile, served, reference_sample=load_reference_sample(dataset.path, profile)
    )
    assert {f.feature for f in report.features} == FEATURES
    assert report.current_rows == 400
    for feature in report.features:
        assert feature.status is not DriftStatus.INSUFFICIENT_DATA
        other = direct.feature(feature.feature)
        assert feature.current_counts == other.current_counts, feature.feature
        assert feature.psi == pytest.approx(other.psi)


def test_empty_window_is_insufficient_data(fraud_store: FeatureStore, served: pa.Table) -> None:
    report = served_drift(fraud_store.offline_path, "fraud_train", service="no_such_service")
    assert report.current_rows == 0
    assert {f.status for f in report.features} == {DriftStatus.INSUFFICIENT_DATA}


def test_cli_writes_json_and_a_readable_html_report(
    fraud_store: FeatureStore, served: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "drift.html"
    result = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(fraud_store.repo_path), "report", "drift",
         "--dataset", "fraud_train", "--service", "fraud_detection", "--html", str(out), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {f["feature"] for f in data["features"]} == FEATURES
    assert data["status"] in {"ok", "warn", "critical"}
    html = out.read_text()
    assert html.count("<svg") == len(FEATURES)
    assert "amount_max_7d" in html and "reference" in html


def test_served_requests_agree_with_offline_point_in_time_values(
    fraud_store: FeatureStore, served: pa.Table
) -> None:
    view = fraud_store.get_feature_view("user_transaction_stats@v1")
    report = audit_served(
        fraud_store.offline_engine,
        ViewReadSpec.from_view(view, version=1, repo_root=fraud_store.repo_path),
        ViewTable.from_view(view, project=fraud_store.project, version=1),
        request_log_root(fraud_store.offline_path),
        sample=10_000,
    )
    assert report.source == "request_log" and report.sampled == 400
    assert report.status is ConsistencyStatus.CONSISTENT, report.examples
    by_name = {f.feature: f for f in report.features}
    # amount_sum_7d is not in the service: never served, so never compared.
    assert set(by_name) == {"txn_count_7d", "amount_mean_7d", "amount_max_7d"}
    served_nulls = served.column("amount_max_7d").null_count
    assert by_name["amount_max_7d"].both_null == served_nulls
    assert by_name["amount_max_7d"].mismatches == 0


def test_parity_audit_served_uses_the_request_log(
    fraud_store: FeatureStore, served: pa.Table
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(fraud_store.repo_path), "audit",
         "merchant_risk@v1", "--served", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["source"] == "request_log" and data["sampled"] == 400
    assert {f["feature"] for f in data["features"]} == {"category", "chargeback_rate", "risk_score"}
