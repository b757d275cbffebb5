"""The auditor samples the offline side too: keys a sync published that the online store
lost count as disagreeing, and an audit of a wiped online store alerts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from parity.cli.main import app
from parity.monitor.audit import ConsistencyStatus
from parity.online.base import ViewTable
from parity.online.sqlite import _quote
from parity.scaffold import init_repo
from parity.store import FeatureStore

VIEW = "user_transaction_stats"


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[FeatureStore]:
    root = init_repo(tmp_path / "r", project="missing", rows=600)
    with FeatureStore(root) as store:
        store.apply(message="t")
        now = datetime.now(UTC)
        store.materialize(now - timedelta(days=400), now, views=[VIEW])
        yield store


def _delete_online(store: FeatureStore, *, keep_every: int | None) -> int:
    view = store.get_feature_view(f"{VIEW}@v1")
    table = ViewTable.from_view(view, project=store.project, version=1)
    path = store.online_store.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as conn:
        if keep_every is None:
            cursor = conn.execute(f"DELETE FROM {_quote(table)}")
        else:
            keys = [row[0] for row in conn.execute(f"SELECT k FROM {_quote(table)} ORDER BY k")]
            doomed = [(k,) for i, k in enumerate(keys) if i % keep_every]
            cursor = conn.executemany(f"DELETE FROM {_quote(table)} WHERE k = ?", doomed)
        return int(cursor.rowcount)


def test_keys_deleted_online_make_the_audit_inconsistent(synced: FeatureStore) -> None:
    # Fails on main: with 90% of the keys deleted the audit read "consistent, 0% disagree".
    users = set(
        pq.read_table(synced.repo_path / "data/user_transaction_stats.parquet")
        .column("user_id")
        .to_pylist()
    )
    deleted = _delete_online(synced, keep_every=10)
    assert deleted >= 0.85 * len(users)
    report, alerts = synced.monitoring.audit(f"{VIEW}@v1", sample=10_000)
    assert report.status is ConsistencyStatus.INCONSISTENT
    assert report.offline_sampled == len(users)
    assert report.missing_online == deleted
    assert report.disagreeing == 0  # the keys still online agree
    assert report.mismatch_rate == pytest.approx(deleted / (report.sampled + len(users)))
    assert any("missing online" in example for example in report.examples)
    assert [a.rule for a in alerts] == ["online_offline_skew"]


def test_a_wiped_online_store_is_inconsistent_exits_1_and_alerts(synced: FeatureStore) -> None:
    # Fails on main: a wiped store gave no_data, exit 0 and no alert.
    _delete_online(synced, keep_every=None)
    result = CliRunner().invoke(
        app, ["--repo", str(synced.repo_path), "audit", f"{VIEW}@v1", "--json"]
    )
    assert result.exit_code == 1, result.stderr
    import json

    data = json.loads(result.stdout)
    assert (data["status"], data["sampled"], data["mismatch_rate"]) == ("inconsistent", 0, 1.0)
    assert data["missing_online"] == data["offline_sampled"] > 0
    assert [a["rule"] for a in data["alerts"]] == ["online_offline_skew"]


def test_a_version_never_synced_expects_nothing_online(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "r", project="never", rows=200)
    with FeatureStore(root) as store:
        store.apply(message="t")
        report, alerts = store.monitoring.audit(f"{VIEW}@v1")
    assert (report.status, report.offline_sampled, alerts) == (ConsistencyStatus.NO_DATA, 0, [])
