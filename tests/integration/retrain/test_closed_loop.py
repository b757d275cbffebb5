"""The closed loop end to end on embedded defaults (SQLite registry, example repo), and faults.

Every fault ends in a recorded, alerted, recoverable state while the champion keeps serving.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parity.retrain.demo_story import run_retrain_story
from parity.retrain.errors import StepFailed
from parity.retrain.ledger import RunState, StepState
from parity.retrain.model import LabelSource, Model, RetrainPolicy
from parity.retrain.registries.base import CHALLENGER, CHAMPION
from parity.retrain.runner import STEP_NAMES, run_retrain
from parity.retrain.serving import ModelServer
from parity.retrain.wiring import Loop, open_loop
from parity.scaffold import init_repo
from parity.store import FeatureStore

END = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    root = init_repo(tmp_path / "fraud", project="fraud", rows=12_000, end=END)
    with FeatureStore(root) as store:
        store.apply(message="test", actor="test")
        for report in store.materialize(END - timedelta(days=60), END):
            store.promote(report.ref, message="validated")
        yield store


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _model(trainer: Any = None, **policy: Any) -> Model:
    extra = {} if trainer is None else {"trainer": trainer}
    return Model(
        "fraud_model",
        feature_service="fraud_detection@v1",
        labels=LabelSource(
            "data/transactions.parquet",
            entity_keys=("user_id", "merchant_id"),
            label_column="is_fraud",
            request_features=("amount",),
        ),
        policy=RetrainPolicy(bootstrap_resamples=200, shadow_min_requests=5, **policy),
        **extra,
    )


@pytest.fixture
def loop(store: FeatureStore) -> Iterator[Loop]:
    loop = open_loop(store.retraining, clock=Clock(END + timedelta(days=1)))
    yield loop
    loop.close()


def _rows() -> list[dict[str, Any]]:
    return [{"user_id": 1, "merchant_id": 1, "amount": 25.0}]


def test_closed_loop_detects_degradation_and_promotes_a_better_model(store: FeatureStore) -> None:
    result = run_retrain_story(store.retraining)
    assert result.champion == "fraud_model@v2"
    assert result.decision is not None and result.decision.action.value == "retrain"
    assert result.after["roc_auc"] > result.before["roc_auc"] + 0.05
    first, second = result.runs
    assert (first.state, second.state) == (RunState.PROMOTED, RunState.PROMOTED)
    assert second.outputs["gate"]["ci_low"] > 0

    loop = open_loop(store.retraining)
    try:
        v2 = loop.registry.alias("fraud_model", CHAMPION)
        assert v2 is not None and v2.version == 2
        lineage = v2.lineage
        assert lineage.feature_service == "fraud_detection@v1"
        assert {p["view"] for p in lineage.service_pins} == {
            "user_transaction_stats",
            "user_profile",
            "merchant_risk",
        }
        assert lineage.training_dataset == second.outputs["build_training_set"]["dataset"]
        assert lineage.code_fingerprint and lineage.metrics["roc_auc"] > 0.5
        assert lineage.feature_names[-1] == "amount"
        # Every step recorded in order; the training set was saved with lineage.
        steps = loop.ledger.steps(second.run_id)
        assert [s["step"] for s in steps] == list(STEP_NAMES)
        assert all(s["state"] == StepState.SUCCEEDED for s in steps)
        dataset = store.offline_engine.get_saved_dataset(lineage.training_dataset)
        assert dataset.lineage.row_count > 0
        # The shadow check logged both models' predictions for the same requests.
        roles = {
            p["role"] for p in ModelServer(store.retraining, loop.registry).log.read("fraud_model")
        }
        assert roles == {"champion", "challenger"}
        # Re-running a finished run id does nothing again.
        again = run_retrain(loop, _model(), run_id=second.run_id)
        assert again.state is RunState.PROMOTED and len(loop.registry.versions("fraud_model")) == 2
    finally:
        loop.close()


def test_shadow_runs_the_challenger_off_the_hot_path_and_logs_both(
    store: FeatureStore, loop: Loop
) -> None:
    run_retrain(loop, _model())
    loop.clock.now += timedelta(days=2)  # type: ignore[attr-defined]
    # The same data gives the same model; a negative min_delta lets it through the gate.
    second = run_retrain(loop, _model(min_delta=-1.0), trigger="schedule", until="register")
    assert second.state is RunState.RUNNING
    server = ModelServer(store.retraining, loop.registry)
    served = server.predict("fraud_model", _rows())
    server.close()  # waits for the shadow thread
    shadow = server.pending[0].result()
    assert (served.role, served.version) == ("champion", 1)
    assert (shadow.role, shadow.version, shadow.request_id) == ("challenger", 2, served.request_id)
    assert shadow.features == served.features  # same vector, no second read


def test_failing_trainer_is_recorded_alerted_and_resumable(store: FeatureStore, loop: Loop) -> None:
    run_retrain(loop, _model())

    def broken(features: Any, labels: Any) -> Any:
        raise RuntimeError("out of memory")

    loop.clock.now += timedelta(days=2)  # type: ignore[attr-defined]
    with pytest.raises(StepFailed, match="step train failed"):
        run_retrain(loop, _model(broken), run_id="r2", trigger="schedule")
    assert loop.ledger.run("r2").state is RunState.FAILED  # type: ignore[union-attr]
    alert = loop.ledger.alerts("fraud_model")[-1]
    assert alert["severity"] == "critical" and "out of memory" in alert["message"]
    assert loop.registry.alias("fraud_model", CHAMPION).version == 1  # type: ignore[union-attr]
    assert ModelServer(store.retraining, loop.registry).predict("fraud_model", _rows()).version == 1
    assert loop.ledger.step_output("r2", "build_training_set") is not None
    # Recover: the failed run is resumable by its id; its finished steps are reused.
    built = loop.ledger.step_output("r2", "build_training_set")
    report = run_retrain(loop, _model(), run_id="r2", trigger="schedule")
    assert report.outputs["build_training_set"] == built  # reused, not rebuilt
    # Same data as the champion: the retrained candidate is no better, so the gate says no.
    assert report.state is RunState.REJECTED
    assert [s["state"] for s in loop.ledger.steps("r2")][:2] == ["succeeded", "succeeded"]


def test_worse_candidate_is_rejected_and_champion_keeps_serving(
    store: FeatureStore, loop: Loop
) -> None:
    from sklearn.dummy import DummyClassifier

    run_retrain(loop, _model())

    def constant(features: Any, labels: Any) -> Any:
        return DummyClassifier(strategy="prior").fit(features, labels)

    loop.clock.now += timedelta(days=2)  # type: ignore[attr-defined]
    report = run_retrain(loop, _model(constant), trigger="performance")
    assert report.state is RunState.REJECTED
    assert "CI lower bound" in report.outputs["gate"]["stop"]
    assert "register" not in report.outputs
    assert loop.registry.alias("fraud_model", CHAMPION).version == 1  # type: ignore[union-attr]
    assert loop.registry.alias("fraud_model", CHALLENGER) is None
    assert loop.ledger.alerts("fraud_model")[-1]["severity"] == "warn"


def test_labels_that_never_arrive_fail_the_run_recoverably(store: FeatureStore, loop: Loop) -> None:
    model = Model(
        "late",
        feature_service="fraud_detection@v1",
        labels=LabelSource("data/not_yet.parquet", entity_keys=("user_id",)),
    )
    with pytest.raises(StepFailed, match="does not exist yet") as info:
        run_retrain(loop, model, run_id="late1")
    assert type(info.value.__cause__).__name__ == "LabelsMissing"
    assert loop.ledger.run("late1").state is RunState.FAILED  # type: ignore[union-attr]
    assert loop.ledger.alerts("late")[-1]["severity"] == "critical"


def test_model_that_fails_to_load_falls_back_and_rollback_is_one_call(
    store: FeatureStore, loop: Loop
) -> None:
    run_retrain(loop, _model())
    v1 = loop.registry.alias("fraud_model", CHAMPION)
    assert v1 is not None
    loop.registry.register(
        "fraud_model",
        "not a model",
        lineage=v1.lineage.__class__(**{**v1.lineage.__dict__, "run_id": "manual-bad"}),
    )
    loop.registry.promote("fraud_model", 2)
    server = ModelServer(store.retraining, loop.registry, alerts=loop.alerts)
    # v2's artifact is truncated on disk: the previous champion serves, a person is alerted.
    path = Path(loop.registry.alias("fraud_model", CHAMPION).artifact_uri.removeprefix("file://"))  # type: ignore[union-attr]
    path.write_bytes(path.read_bytes()[:10])
    served = server.predict("fraud_model", _rows())
    server.close()
    assert (served.version, served.role) == (1, "previous")
    assert "SHA-256" in loop.ledger.alerts("fraud_model")[-1]["message"]
    assert loop.registry.rollback("fraud_model").version == 1
    assert loop.registry.alias("fraud_model", "previous").version == 2  # type: ignore[union-attr]


def test_champion_that_fails_to_load_fails_the_run_until_a_rollback_then_it_resumes(
    store: FeatureStore, loop: Loop
) -> None:
    import dataclasses

    run_retrain(loop, _model())
    v1 = loop.registry.alias("fraud_model", CHAMPION)
    assert v1 is not None
    bad = dataclasses.replace(v1.lineage, run_id="manual-v2")
    v2 = loop.registry.register("fraud_model", "placeholder", lineage=bad)
    loop.registry.promote("fraud_model", v2.version)
    Path(v2.artifact_uri.removeprefix("file://")).write_bytes(b"truncated")
    loop.clock.now += timedelta(days=2)  # type: ignore[attr-defined]
    with pytest.raises(StepFailed, match="step evaluate failed") as info:
        run_retrain(loop, _model(), run_id="r3", trigger="schedule")
    assert "rollback" in str(info.value.__cause__)  # the error says how to recover
    assert loop.ledger.run("r3").state is RunState.FAILED  # type: ignore[union-attr]
    assert loop.ledger.alerts("fraud_model")[-1]["severity"] == "critical"
    # Production meanwhile: the previous champion serves, and that is alerted too.
    server = ModelServer(store.retraining, loop.registry, alerts=loop.alerts)
    served = server.predict("fraud_model", _rows())
    server.close()
    assert (served.version, served.role) == (1, "previous")
    # Recover: roll back, resume the same run; it compares with the restored champion.
    assert loop.registry.rollback("fraud_model").version == 1
    report = run_retrain(loop, _model(), run_id="r3", trigger="schedule")
    assert report.state in (RunState.PROMOTED, RunState.REJECTED)
    assert report.outputs["evaluate"]["champion"] == 1


def test_labels_that_arrive_late_let_the_failed_run_resume_while_the_champion_serves(
    store: FeatureStore, loop: Loop
) -> None:
    import shutil

    run_retrain(loop, _model())
    late = Model(
        "fraud_model",
        feature_service="fraud_detection@v1",
        labels=LabelSource(
            "data/late_labels.parquet",
            entity_keys=("user_id", "merchant_id"),
            label_column="is_fraud",
            request_features=("amount",),
        ),
        policy=_model().policy,
    )
    loop.clock.now += timedelta(days=2)  # type: ignore[attr-defined]
    with pytest.raises(StepFailed, match="does not exist yet"):
        run_retrain(loop, late, run_id="late1", trigger="performance")
    assert loop.ledger.run("late1").state is RunState.FAILED  # type: ignore[union-attr]
    assert loop.ledger.alerts("fraud_model")[-1]["severity"] == "critical"
    served = ModelServer(store.retraining, loop.registry).predict("fraud_model", _rows())
    assert served.version == 1 and served.role == "champion"
    shutil.copy(
        store.repo_path / "data/transactions.parquet", store.repo_path / "data/late_labels.parquet"
    )
    report = run_retrain(loop, late, run_id="late1", trigger="performance")
    assert report.state in (RunState.PROMOTED, RunState.REJECTED)
    assert loop.ledger.run("late1").state is report.state  # type: ignore[union-attr]


def test_unreadable_registry_keeps_the_last_champion_serving(
    store: FeatureStore, loop: Loop
) -> None:
    import sqlalchemy as sa

    from parity.retrain.registries.builtin import BuiltinModelRegistry

    class DownRegistry(BuiltinModelRegistry):
        """Test-only: the real registry, whose database stops answering on demand."""

        down = False

        def alias(self, name: str, alias: str) -> Any:
            if self.down:
                raise sa.exc.OperationalError("SELECT", {}, Exception("server closed"))
            return super().alias(name, alias)

    run_retrain(loop, _model())
    registry = DownRegistry(
        loop.ledger.engine, project="fraud", root=store.repo_path / "data/models"
    )
    server = ModelServer(store.retraining, registry, alias_cache_seconds=0.0)  # every request reads
    assert server.predict("fraud_model", _rows()).version == 1
    registry.down = True
    assert server.predict("fraud_model", _rows()).version == 1  # the champion it knew
    fresh = ModelServer(store.retraining, registry, alias_cache_seconds=0.0)
    with pytest.raises(sa.exc.OperationalError):  # nothing known yet: the error surfaces
        fresh.predict("fraud_model", _rows())
    server.close()
    fresh.close()
