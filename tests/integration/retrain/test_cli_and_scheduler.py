"""The CLI steps an orchestrator calls, and the embedded scheduler, on the example repo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parity.cli.main import app
from parity.retrain.ledger import RunState
from parity.retrain.monitor_evidence import Evidence
from parity.retrain.scheduler import run_scheduler
from parity.retrain.triggers import PerformanceEvidence
from parity.retrain.wiring import open_loop
from parity.scaffold import init_repo
from parity.store import FeatureStore

END = datetime(2026, 2, 1, tzinfo=UTC)
MODELS = """
from parity.retrain.model import LabelSource, Model, RetrainPolicy

fraud_model = Model(
    "fraud_model",
    feature_service="fraud_detection@v1",
    labels=LabelSource("data/transactions.parquet", entity_keys=("user_id", "merchant_id"),
                       label_column="is_fraud", request_features=("amount",)),
    policy=RetrainPolicy(bootstrap_resamples=100, shadow_min_requests=5),
)
"""


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = init_repo(tmp_path / "fraud", project="fraud", rows=8_000, end=END)
    with FeatureStore(root) as store:
        store.apply(message="test", actor="test")
        for report in store.materialize(END - timedelta(days=60), END):
            store.promote(report.ref, message="validated")
    (root / "models.py").write_text(MODELS)
    yield root


def _cli(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--repo", str(repo), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_orchestrator_runs_one_step_per_command_idempotently(repo: Path) -> None:
    for step in ("build_training_set", "train", "evaluate", "gate", "register", "shadow"):
        out = json.loads(
            _cli(repo, "retrain", "step", step, "fraud_model", "--run-id", "r1", "--json")
        )
        assert out["state"] == "running" and step in out["steps"]
    again = json.loads(
        _cli(repo, "retrain", "step", "train", "fraud_model", "--run-id", "r1", "--json")
    )
    assert again["steps"]["train"] == out["steps"]["train"]  # recorded output, not re-run
    final = json.loads(
        _cli(repo, "retrain", "step", "promote", "fraud_model", "--run-id", "r1", "--json")
    )
    assert final["state"] == "promoted"
    status = json.loads(_cli(repo, "retrain", "status", "fraud_model", "--json"))
    assert status["aliases"]["champion"] == 1
    scored = json.loads(
        _cli(
            repo,
            "retrain",
            "predict",
            "fraud_model",
            '[{"user_id": 1, "merchant_id": 1, "amount": 20.0}]',
        )
    )
    assert scored["version"] == 1 and 0 <= scored["scores"][0] <= 1


def test_scheduler_retrains_on_evidence_and_the_rate_limit_holds(repo: Path) -> None:
    now = [END + timedelta(days=1)]
    perf = PerformanceEvidence("roc_auc", value=0.5, validation_value=0.9)
    with FeatureStore(repo) as store:
        ticks = run_scheduler(
            store.retraining,
            iterations=3,
            clock=lambda: now[0],
            sleep=lambda s: None,
            evidence=lambda loop, model: Evidence(performance=perf),
        )
        outcomes = [t.outcomes["fraud_model"] for t in ticks]
        assert outcomes[0] == "promoted"
        for blocked in outcomes[1:]:
            # The scheduler says why and what to do, not only the error's class.
            assert blocked.startswith("error: RetrainBlocked: Model 'fraud_model': run ")
            assert "rate limit of 1 day, 0:00:00 (policy.min_interval)" in blocked
            assert "to retrain now, run 'parity retrain run fraud_model'" in blocked
        loop = open_loop(store.retraining)
        try:
            assert [r.state for r in loop.ledger.runs("fraud_model")] == [RunState.PROMOTED]
            assert len(loop.ledger.decisions("fraud_model")) == 3
            assert "rate limit" in loop.ledger.alerts("fraud_model")[-1]["message"]
        finally:
            loop.close()


def test_a_manual_run_does_not_block_the_first_automatic_run(repo: Path) -> None:
    # Fails on main: the manual run counted toward the automatic 24 h rate limit, so the
    # first drift-triggered run was blocked.
    from parity.retrain.context import find_model
    from parity.retrain.runner import run_retrain

    now = [END + timedelta(days=1)]
    perf = PerformanceEvidence("roc_auc", value=0.5, validation_value=0.9)
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining, clock=lambda: now[0])
        try:
            manual = run_retrain(loop, find_model(repo, "fraud_model"), trigger="manual")
        finally:
            loop.close()
        now[0] += timedelta(hours=1)
        [tick] = run_scheduler(
            store.retraining,
            iterations=1,
            clock=lambda: now[0],
            sleep=lambda s: None,
            evidence=lambda loop, model: Evidence(performance=perf),
        )
    assert manual.state is RunState.PROMOTED
    assert not tick.outcomes["fraud_model"].startswith("error"), tick.outcomes


def test_evaluate_records_the_decision_from_monitor_evidence(repo: Path, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence.json"
    evidence.write_text(
        json.dumps(
            {
                "drift": {
                    "features": [
                        {"feature": "amount_mean_7d", "psi": 0.4, "error_correlation": 0.1}
                    ]
                },
                "performance": {"metric": "roc_auc", "value": 0.87, "validation_value": 0.9},
            }
        )
    )
    out = json.loads(
        _cli(repo, "retrain", "evaluate", "fraud_model", "--evidence", str(evidence), "--json")
    )
    assert out["action"] == "warn"
    assert len(out["reasons"]) == 2
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining)
        try:
            decision = loop.ledger.decisions("fraud_model")[-1]
            assert decision["evidence"]["drift"]["features"][0]["psi"] == 0.4
            assert loop.ledger.alerts("fraud_model")[-1]["severity"] == "warn"
        finally:
            loop.close()


def test_parity_scheduler_once_makes_one_pass(repo: Path) -> None:
    out = _cli(repo, "scheduler", "--once")
    assert "fraud_model" in out  # no champion yet, no schedule: the decision is 'none'
    assert "'none'" in out
    out = _cli(repo, "scheduler", "--once", "--no-monitor-evidence")
    assert "'none'" in out
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining)
        try:
            notes = [d["evidence"]["notes"] for d in loop.ledger.decisions("fraud_model")]
        finally:
            loop.close()
    assert notes == [
        ["no champion yet: nothing serves, nothing to monitor"],
        ["monitor evidence disabled: schedules only"],
    ]


def test_locked_registry_database_is_alerted_once_reachable_and_the_champion_serves(
    repo: Path,
) -> None:
    import sqlite3

    from parity.retrain.context import find_model
    from parity.retrain.runner import run_retrain
    from parity.retrain.scheduler import SCHEDULER, no_evidence
    from parity.retrain.serving import ModelServer
    from parity.retrain.wiring import open_model_registry

    now = END + timedelta(days=1)
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining, clock=lambda: now)
        try:
            run_retrain(loop, find_model(repo, "fraud_model"))
        finally:
            loop.close()
        # Another process takes the registry database's write lock and keeps it.
        blocker = sqlite3.connect(repo / "data" / "registry.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        # As the feature server's first /predict does: open the registry, then serve.
        server = ModelServer(
            store.retraining, open_model_registry(store.retraining), alias_cache_seconds=0.0
        )
        try:
            # Serving reads the registry without waiting for the writer: the champion serves.
            served = server.predict("fraud_model", [{"user_id": 1, "merchant_id": 1}])
            assert (served.version, served.role) == (1, "champion")

            def release(_seconds: float) -> None:
                blocker.execute("ROLLBACK")  # the lock goes away before the second pass

            ticks = run_scheduler(
                store.retraining,
                iterations=2,
                clock=lambda: now,
                sleep=release,
                evidence=no_evidence,
            )
        finally:
            server.close()
            blocker.close()
        assert ticks[0].outcomes == {SCHEDULER: "error: registry database unavailable"}
        assert ticks[1].outcomes == {"fraud_model": "none"}
        loop = open_loop(store.retraining)
        try:
            [alert] = loop.ledger.alerts(SCHEDULER)
        finally:
            loop.close()
    assert alert["severity"] == "critical"
    assert "registry database is unavailable" in alert["message"]


def test_evaluate_without_a_file_reads_the_monitors_evidence(repo: Path) -> None:
    out = json.loads(_cli(repo, "retrain", "evaluate", "fraud_model", "--json"))
    assert out["action"] == "none"
    assert out["notes"] == ["no champion yet: nothing serves, nothing to monitor"]
    status = json.loads(_cli(repo, "retrain", "status", "fraud_model", "--json"))
    assert status["pending_transitions"] == []
