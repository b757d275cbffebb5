"""The consistency auditor against a real repository: consistent after a sync, exact
counts when offline corrections were never published, and the block / resync policies."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from parity.monitor.audit import ConsistencyStatus, audit_view, latest_audit
from parity.monitor.blocking import serving_blocked
from parity.monitor.records import monitoring_root
from parity.offline.base import ViewReadSpec
from parity.online.base import ViewTable
from parity.scaffold import init_repo
from parity.store import FeatureStore

VIEW = "user_transaction_stats"


def audit(store: FeatureStore, sample: int = 10_000, rate: float = 0.0):  # type: ignore[no-untyped-def]
    view = store.get_feature_view(f"{VIEW}@v1")
    return audit_view(
        store.offline_engine,
        store.online_store,
        ViewReadSpec.from_view(view, version=1, repo_root=store.repo_path),
        ViewTable.from_view(view, project=store.project, version=1),
        sample=sample,
        max_mismatch_rate=rate,
    )


def test_a_fresh_sync_is_consistent_on_every_key(fraud_store: FeatureStore) -> None:
    report = audit(fraud_store)
    assert report.status is ConsistencyStatus.CONSISTENT
    entities = pq.read_table(fraud_store.repo_path / "data/user_transaction_stats.parquet")
    assert report.sampled == len(set(entities.column("user_id").to_pylist()))
    for feature in report.features:
        assert feature.mismatches == feature.left_null == feature.right_null == 0
        assert feature.total == report.sampled
    smape = {f.feature: f.mean_smape for f in report.features}
    assert smape["amount_mean_7d"] == 0.0


def test_sample_is_a_subset_of_the_requested_size(fraud_store: FeatureStore) -> None:
    assert audit(fraud_store, sample=17).sampled == 17


@pytest.fixture
def corrected(tmp_path: Path) -> FeatureStore:
    """A synced repo whose source then received unpublished corrections for 5 users."""
    root = init_repo(tmp_path / "r", project="audit", rows=600)
    store = FeatureStore(root)
    store.apply(message="t")
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    store.materialize(now - timedelta(days=400), now)
    path = root / "data/user_transaction_stats.parquet"
    source = pq.read_table(path)
    latest = source.group_by("user_id").aggregate([("event_timestamp", "max")])
    users = sorted(latest.column("user_id").to_pylist())[:5]
    newest = source.join(latest, keys="user_id").filter(
        (pc.field("event_timestamp") == pc.field("event_timestamp_max"))
        & pc.field("user_id").isin(users)
    )
    fix = newest.drop_columns(["event_timestamp_max"])
    fix = fix.set_column(
        fix.schema.get_field_index("amount_mean_7d"),
        "amount_mean_7d",
        pc.add(fix.column("amount_mean_7d"), 1.0),
    )
    fix = fix.set_column(
        fix.schema.get_field_index("created_timestamp"),
        "created_timestamp",
        pa.array([now] * fix.num_rows, pa.timestamp("us", tz="UTC")),
    )
    pq.write_table(pa.concat_tables([source, fix.select(source.column_names)]), path)
    yield store
    store.close()


def test_unpublished_corrections_are_counted_feature_by_feature(corrected: FeatureStore) -> None:
    report = audit(corrected)
    assert report.status is ConsistencyStatus.INCONSISTENT
    assert report.disagreeing == 5
    by_name = {f.feature: f for f in report.features}
    assert by_name["amount_mean_7d"].mismatches == 5
    assert by_name["amount_max_7d"].mismatches == 0
    assert by_name["amount_mean_7d"].mean_smape is not None
    assert by_name["amount_mean_7d"].mean_smape > 0
    assert "amount_mean_7d" in report.examples[0]
    assert audit(corrected, rate=0.5).status is ConsistencyStatus.CONSISTENT


def parity_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_block_policy_is_stored_and_a_clean_audit_lifts_it(corrected: FeatureStore) -> None:
    root = corrected.repo_path
    (root / "monitoring.yaml").write_text("consistency: {on_inconsistent: block}\n")
    result = parity_cli(root, "audit", f"{VIEW}@v1", "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "inconsistent" and data["action"].startswith("blocked")
    monitoring = monitoring_root(corrected.offline_path)
    assert serving_blocked(monitoring, VIEW, 1)
    (root / "monitoring.yaml").write_text("consistency: {on_inconsistent: resync}\n")
    result = parity_cli(root, "audit", f"{VIEW}@v1", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["action"].startswith("resynced")
    after = parity_cli(root, "audit", f"{VIEW}@v1", "--json")
    assert after.returncode == 0, after.stdout
    assert json.loads(after.stdout)["status"] == "consistent"
    assert not serving_blocked(monitoring, VIEW, 1)
    newest = latest_audit(monitoring, VIEW, 1)
    assert newest is not None and newest["status"] == "consistent"
