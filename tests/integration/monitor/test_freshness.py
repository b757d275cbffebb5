"""Freshness from sync records and the online store's scan, checked against the source data."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from parity.monitor.freshness import FreshnessStatus, check_freshness
from parity.monitor.gauges import freshness_gauges, monitoring_metrics
from parity.scaffold import init_repo
from parity.store import FeatureStore


def by_ref(store: FeatureStore, now: datetime) -> dict[str, object]:
    reports = check_freshness(store.registry, store.online_store, store.project, now=now)
    return {r.ref: r for r in reports}


def expected_stale_ratio(store: FeatureStore, now: datetime, max_age: timedelta) -> float:
    source = pd.read_parquet(store.repo_path / "data/user_transaction_stats.parquet")
    newest = source.groupby("user_id")["event_timestamp"].max()
    return float((newest < now - max_age).mean())


def test_fresh_right_after_a_sync(fraud_store: FeatureStore) -> None:
    now = datetime.now(UTC)
    stats = by_ref(fraud_store, now)["user_transaction_stats@v1"]
    assert stats.status is FreshnessStatus.FRESH
    assert stats.missed_refreshes == 0
    assert stats.last_outcome == "succeeded" and stats.rows_written and stats.rows_written > 0
    source = pd.read_parquet(fraud_store.repo_path / "data/user_transaction_stats.parquet")
    newest = source["event_timestamp"].max().to_pydatetime()
    assert stats.newest_event == newest
    assert stats.freshness_lag_seconds == pytest.approx((now - newest).total_seconds())
    assert stats.entities == source["user_id"].nunique()
    assert stats.stale_entity_ratio == pytest.approx(
        expected_stale_ratio(fraud_store, now, timedelta(days=2))
    )
    assert stats.sync_delay_seconds is not None and stats.sync_delay_seconds > 0


def test_days_without_a_sync_are_missed_refreshes_and_stale_entities(
    fraud_store: FeatureStore,
) -> None:
    later = datetime.now(UTC) + timedelta(days=3, hours=1)
    reports = by_ref(fraud_store, later)
    stats = reports["user_transaction_stats@v1"]
    assert stats.status is FreshnessStatus.MISSED_REFRESH
    assert stats.missed_refreshes == 3  # refresh_every is one day
    assert stats.stale_entity_ratio == 1.0
    # user_profile declares no freshness policy: numbers, no verdict.
    assert reports["user_profile@v1"].status is FreshnessStatus.NO_POLICY
    assert reports["user_profile@v1"].stale_entity_ratio is None
    observed = {o.metric: o.value for o in stats.observations()}
    assert observed["missed_refreshes"] == 3 and observed["stale_entity_ratio"] == 1.0


def test_a_version_never_synced_says_so(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "fresh", project="never", rows=200)
    with FeatureStore(root) as store:
        store.apply(message="t")
        reports = check_freshness(store.registry, store.online_store, store.project)
    assert {r.status for r in reports} == {FreshnessStatus.NEVER_SYNCED}
    assert {r.entities for r in reports} == {0}


def test_gauges_carry_every_view_version(fraud_store: FeatureStore) -> None:
    now = datetime.now(UTC)
    reports = check_freshness(fraud_store.registry, fraud_store.online_store, fraud_store.project)
    gauges = {(g.name, g.labels["view"]): g.value for g in freshness_gauges(reports)}
    assert gauges[("parity_monitor_fresh", "user_transaction_stats")] == 1.0
    text = monitoring_metrics(
        fraud_store.registry, fraud_store.online_store, fraud_store.project, now=now
    )
    assert "# TYPE parity_monitor_stale_entity_ratio gauge" in text
    assert 'parity_monitor_online_entities{view="merchant_risk",version="1"}' in text


def test_parity_status_json(fraud_store: FeatureStore) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(fraud_store.repo_path), "status", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    refs = {r["ref"]: r for r in data["freshness"]}
    assert set(refs) == {"user_transaction_stats@v1", "user_profile@v1", "merchant_risk@v1"}
    assert refs["user_transaction_stats@v1"]["status"] == "fresh"
    table = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(fraud_store.repo_path), "status"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**__import__("os").environ, "COLUMNS": "220"},
    )  # fmt: skip
    assert table.returncode == 0 and "user_transaction_stats@v1" in table.stdout
