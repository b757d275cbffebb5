"""Every sync records the data quality of its batch (the controller's hook)."""

from __future__ import annotations

from parity.monitor.quality import quality_history
from parity.monitor.records import monitoring_root
from parity.store import FeatureStore


def test_each_sync_stores_a_quality_run_per_view_version(fraud_store: FeatureStore) -> None:
    history = quality_history(monitoring_root(fraud_store.offline_path))
    rows = history.to_pylist()
    assert {r["view"] for r in rows} == {"user_transaction_stats", "user_profile", "merchant_risk"}
    assert {r["source"] for r in rows} == {"sync"}
    counts = {r["view"]: r["observed"] for r in rows if r["check"] == "row_count"}
    runs = {r.view: r.rows_read for r in fraud_store.registry.sync_records(
        fraud_store.project, "user_profile", 1)}  # fmt: skip
    assert counts["user_profile"] == runs["user_profile"]
    # The sample data honours every contract: nothing warns or fails.
    assert {r["severity"] for r in rows} == {"pass"}
