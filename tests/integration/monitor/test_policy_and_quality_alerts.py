"""Quality runs raise alerts (sync and push), and the alert / resync policies act."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from parity.monitor.alerts import ALERTS_TABLE, alerts_schema
from parity.monitor.audit import ConsistencyStatus, audit_view
from parity.monitor.config import InconsistencyPolicy
from parity.monitor.policy import apply_inconsistency_policy
from parity.monitor.quality import quality_history
from parity.monitor.records import monitoring_root, read_records
from parity.offline.base import ViewReadSpec
from parity.online.base import ViewTable
from parity.scaffold import init_repo
from parity.store import FeatureStore

PUSH_VIEWS = """
from datetime import timedelta

from features import user
from parity import DeltaSource, FeatureView, Field, Float64, PushSource

txn_push = PushSource(
    "txn_push", batch_source=DeltaSource("data/txn_events", timestamp_field="event_timestamp")
)
user_live = FeatureView(
    "user_live",
    entities=[user],
    schema=[Field("last_amount", Float64, nullable=False, min_value=0)],
    source=txn_push,
    ttl=timedelta(days=1),
)
"""
MONITORING = """
monitoring:
  alerts:
    routes: [{type: log, path: alerts.jsonl}]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[FeatureStore]:
    root = init_repo(tmp_path / "r", project="qalert", rows=600)
    (root / "push_features.py").write_text(PUSH_VIEWS)
    with (root / "parity.yaml").open("a") as f:
        f.write(MONITORING)
    store = FeatureStore(root)
    store.apply(message="t")
    yield store
    store.close()


def stored_alerts(store: FeatureStore) -> list[dict[str, object]]:
    return read_records(
        monitoring_root(store.offline_path), ALERTS_TABLE, alerts_schema()
    ).to_pylist()


def delivered_lines(store: FeatureStore) -> list[dict[str, object]]:
    path = store.repo_path / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def break_ages(root: Path, share: float = 0.1) -> int:
    """Set ``age`` below the contract's minimum (18) on a share of the profile rows."""
    path = root / "data/user_profile.parquet"
    table = pq.read_table(path)
    bad = pa.array([i % round(1 / share) == 0 for i in range(table.num_rows)])
    ages = pc.if_else(bad, pa.scalar(5, table.schema.field("age").type), table.column("age"))
    pq.write_table(table.set_column(table.schema.get_field_index("age"), "age", ages), path)
    return int(pc.sum(bad).as_py())


def test_a_failing_sync_batch_raises_a_stored_alert_with_its_checks(repo: FeatureStore) -> None:
    broken = break_ages(repo.repo_path)
    now = datetime.now(UTC)
    repo.sync_controller.materialize("user_profile", 1, start=now - timedelta(days=400), end=now)
    [alert] = [
        a
        for a in stored_alerts(repo)
        if a["subject"] == "user_profile@v1" and a["rule"] == "data_quality"
    ]
    assert (alert["rule"], alert["severity"], alert["delivery"]) == (
        "data_quality",
        "critical",
        "sent",
    )
    # Too many rows rejected: the version failed validation, a failure alert of its own.
    [failed] = [a for a in stored_alerts(repo) if a["rule"] == "sync_failed"]
    assert (failed["severity"], failed["delivery"]) == ("warn", "sent")
    evidence = json.loads(str(alert["evidence"]))
    assert evidence["source"] == "sync"
    [check] = [c for c in evidence["checks"] if c["column"] == "age"]
    assert check["severity"] == "fail"
    assert check["observed"] == pytest.approx(broken / evidence["rows"])
    assert [line["subject"] for line in delivered_lines(repo)] == ["user_profile@v1"] * 2
    # The same failures again within the dedupe window: stored as duplicates, not re-sent.
    repo.sync_controller.materialize("user_profile", 1, start=now - timedelta(days=400), end=now)
    deliveries = sorted(a["delivery"] for a in stored_alerts(repo))
    assert deliveries == ["duplicate", "duplicate", "sent", "sent"]
    assert len(delivered_lines(repo)) == 2


def test_a_passing_sync_raises_no_alert(repo: FeatureStore) -> None:
    now = datetime.now(UTC)
    repo.sync_controller.materialize("user_profile", 1, start=now - timedelta(days=400), end=now)
    assert stored_alerts(repo) == []


def test_a_failing_push_batch_is_stored_and_alerted_a_passing_one_leaves_nothing(
    repo: FeatureStore,
) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    good = [{"user_id": 1, "last_amount": 2.5, "event_timestamp": at}]
    assert repo.push("txn_push", good, to="online").rows_written == 1
    root = monitoring_root(repo.offline_path)
    assert quality_history(root, "user_live").num_rows == 0
    bad = [{"user_id": u, "last_amount": -1.0, "event_timestamp": at} for u in range(2, 6)]
    assert repo.push("txn_push", [*good, *bad], to="online").rows_rejected == 4
    history = quality_history(root, "user_live").to_pylist()
    assert {r["source"] for r in history} == {"push"}
    assert {
        r["severity"] for r in history if r["column"] == "last_amount" and r["check"] == "contract"
    } == {"fail"}
    [alert] = stored_alerts(repo)
    assert (alert["rule"], alert["subject"], alert["delivery"]) == (
        "data_quality",
        "user_live@v1",
        "sent",
    )


def _corrupt_online(store: FeatureStore, users: int = 4) -> None:
    """Overwrite some online values with newer, wrong ones (what a broken writer does)."""
    view = store.get_feature_view("user_transaction_stats@v1")
    table = ViewTable.from_view(view, project=store.project, version=1)
    rows = [
        {"user_id": u, "txn_count_7d": 1, "amount_sum_7d": 1.0, "amount_mean_7d": 1.0,
         "amount_max_7d": 1.0, "event_timestamp": datetime(2000, 1, 1, tzinfo=UTC)}
        for u in range(10**6, 10**6 + users)
    ]  # fmt: skip
    store.online_store.write(table, pa.Table.from_pylist(rows))


def _audit(store: FeatureStore, policy: InconsistencyPolicy):  # type: ignore[no-untyped-def]
    view = store.get_feature_view("user_transaction_stats@v1")
    return audit_view(
        store.offline_engine, store.online_store,
        ViewReadSpec.from_view(view, version=1, repo_root=store.repo_path),
        ViewTable.from_view(view, project=store.project, version=1),
        sample=10_000, policy=policy,
    )  # fmt: skip


def test_alert_policy_alerts_with_the_audit_as_evidence_and_keeps_serving(
    repo: FeatureStore,
) -> None:
    now = datetime.now(UTC)
    view = "user_transaction_stats"
    repo.sync_controller.materialize(view, 1, start=now - timedelta(days=400), end=now)
    _corrupt_online(repo)  # keys the offline store never had: right_null
    report = _audit(repo, InconsistencyPolicy.ALERT)
    assert report.status is ConsistencyStatus.INCONSISTENT
    report, alerts = apply_inconsistency_policy(
        report, controller=repo.sync_controller, settings=repo.config.monitoring,
        root=monitoring_root(repo.offline_path), repo_root=repo.repo_path,
    )  # fmt: skip
    assert report.action == "alerted"
    [alert] = alerts
    assert (alert.rule, alert.subject, alert.severity.value) == (
        "online_offline_skew", "user_transaction_stats@v1", "critical",
    )  # fmt: skip
    assert alert.evidence["audit_id"] == report.audit_id
    assert alert.evidence["disagreeing"] == 4


def _unpublished_corrections(root: Path, users: int = 5) -> None:
    """Offline corrections (same event time, newer created time) never published online."""
    path = root / "data/user_transaction_stats.parquet"
    source = pq.read_table(path)
    latest = source.group_by("user_id").aggregate([("event_timestamp", "max")])
    chosen = sorted(latest.column("user_id").to_pylist())[:users]
    fix = (
        source.join(latest, keys="user_id")
        .filter(
            (pc.field("event_timestamp") == pc.field("event_timestamp_max"))
            & pc.field("user_id").isin(chosen)
        )
        .drop_columns(["event_timestamp_max"])
    )
    index = fix.schema.get_field_index("amount_mean_7d")
    fix = fix.set_column(index, "amount_mean_7d", pc.add(fix.column("amount_mean_7d"), 1.0))
    index = fix.schema.get_field_index("created_timestamp")
    stamp = pa.array([datetime.now(UTC)] * fix.num_rows, pa.timestamp("us", tz="UTC"))
    fix = fix.set_column(index, "created_timestamp", stamp)
    pq.write_table(pa.concat_tables([source, fix.select(source.column_names)]), path)


def test_resync_policy_rematerializes_the_version_and_records_the_run(repo: FeatureStore) -> None:
    now = datetime.now(UTC)
    view = "user_transaction_stats"
    repo.sync_controller.materialize(view, 1, start=now - timedelta(days=400), end=now)
    _unpublished_corrections(repo.repo_path)
    report = _audit(repo, InconsistencyPolicy.RESYNC)
    assert report.status is ConsistencyStatus.INCONSISTENT and report.disagreeing == 5
    before = {r.run_id for r in repo.registry.sync_records(repo.project, view, 1)}
    report, alerts = apply_inconsistency_policy(
        report, controller=repo.sync_controller, settings=repo.config.monitoring,
        root=monitoring_root(repo.offline_path), repo_root=repo.repo_path,
    )  # fmt: skip
    runs = repo.registry.sync_records(repo.project, view, 1)
    [new] = [r for r in runs if r.run_id not in before]
    assert new.outcome == "succeeded"
    assert new.details["window"]["start"].startswith("1970-01-01")
    assert report.action.startswith(f"resynced: sync run {new.run_id} succeeded")
    assert "validation passed" in report.action
    assert [a.rule for a in alerts] == ["online_offline_skew"]
    assert _audit(repo, InconsistencyPolicy.RESYNC).status is ConsistencyStatus.CONSISTENT


def test_a_failed_resync_is_recorded_and_still_alerts(repo: FeatureStore) -> None:
    now = datetime.now(UTC)
    view = "user_transaction_stats"
    repo.sync_controller.materialize(view, 1, start=now - timedelta(days=400), end=now)
    _unpublished_corrections(repo.repo_path)
    report = _audit(repo, InconsistencyPolicy.RESYNC)
    (repo.repo_path / "data/user_transaction_stats.parquet").unlink()  # the source is gone
    report, alerts = apply_inconsistency_policy(
        report, controller=repo.sync_controller, settings=repo.config.monitoring,
        root=monitoring_root(repo.offline_path), repo_root=repo.repo_path,
    )  # fmt: skip
    assert report.action.startswith("resync blocked: sync run "), report.action
    assert "user_transaction_stats.parquet" in report.action
    assert [a.rule for a in alerts] == ["online_offline_skew"]


def test_warned_push_batches_alert_only_when_a_rule_names_warnings(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "w", project="qwarn", rows=200)
    (root / "push_features.py").write_text(PUSH_VIEWS)
    with (root / "parity.yaml").open("a") as f:
        f.write(MONITORING)
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    # One bad row in 200 is under quality.fail_ratio (1%): the contract check warns.
    rows = [{"user_id": u, "last_amount": -1.0 if u == 0 else 1.0, "event_timestamp": at}
            for u in range(200)]  # fmt: skip
    with FeatureStore(root) as store:
        store.apply(message="t")
        store.push("txn_push", rows, to="online")
        history = quality_history(monitoring_root(store.offline_path), "user_live").to_pylist()
        assert {r["severity"] for r in history if r["check"] == "contract"} == {"warn"}
        assert stored_alerts(store) == []  # the default rules alert on failures only
    with (root / "parity.yaml").open("a") as f:
        f.write(
            "    rules:\n      - {name: quality_warnings, metric: quality_warned_checks, warn: 1}\n"
        )
    with FeatureStore(root) as store:
        store.push("txn_push", rows, to="online")
        [alert] = stored_alerts(store)
        assert (alert["rule"], alert["severity"], alert["subject"]) == (
            "quality_warnings", "warn", "user_live@v1",
        )  # fmt: skip


def test_in_process_reads_honour_the_block_until_unblocked(tmp_path: Path) -> None:
    from parity.errors import ServingBlocked
    from parity.monitor.audit import store_audit
    from parity.monitor.blocking import store_unblock

    root = init_repo(tmp_path / "b", project="sdkblock", rows=600)
    with (root / "parity.yaml").open("a") as f:
        f.write("monitoring: {serving: {block_refresh_seconds: 0.01}}\n")
    with FeatureStore(root) as store:
        store.apply(message="t")
        now = datetime.now(UTC)
        view = "user_transaction_stats"
        store.sync_controller.materialize(view, 1, start=now - timedelta(days=400), end=now)
        read = {"features": [f"{view}@v1:amount_mean_7d"], "entity_rows": [{"user_id": 1}]}
        store.get_online_features(**read)  # type: ignore[arg-type]
        _unpublished_corrections(root)
        report = _audit(store, InconsistencyPolicy.BLOCK)
        report, _ = apply_inconsistency_policy(
            report, controller=None, settings=store.config.monitoring,
            root=monitoring_root(store.offline_path), repo_root=root,
        )  # fmt: skip
        store_audit(monitoring_root(store.offline_path), report)
        time.sleep(0.05)
        with pytest.raises(ServingBlocked, match=f"{view}@v1"):
            store.get_online_features(**read)  # type: ignore[arg-type]
        store.get_online_features(features=["user_profile@v1:age"], entity_rows=[{"user_id": 1}])
        store_unblock(monitoring_root(store.offline_path), view, 1, message="checked")
        time.sleep(0.05)
        store.get_online_features(**read)  # type: ignore[arg-type]
