"""The MLflow model registry for real: MLflow with a SQLite backend in tmp_path.

Skips with a reason when mlflow is not installed, except under CI=true where it must run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from parity.registry.config import SqliteRegistryConfig
from parity.retrain.database import open_engine
from parity.retrain.errors import ModelLoadError, ModelNotFound
from parity.retrain.ledger import Ledger, TransitionState
from parity.retrain.registries.base import CHALLENGER, CHAMPION, PREVIOUS, ModelLineage

if os.environ.get("CI") != "true":
    pytest.importorskip("mlflow", reason="mlflow is not installed: pip install 'parity[mlflow]'")

from parity.retrain.config import MlflowModelRegistryConfig
from parity.retrain.registries.mlflow import MlflowModelRegistry

pytestmark = [
    # MLflow's own modules emit these at import/first use; none are about parity's calls.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


def _lineage(run_id: str, auc: float) -> ModelLineage:
    return ModelLineage(
        feature_service="fraud_detection@v1",
        service_pins=(
            {
                "view": "merchant_risk",
                "version": 1,
                "feature": "risk_score",
                "output_name": "risk_score",
            },
        ),
        training_dataset=f"fraud_model__{run_id}",
        metrics={"roc_auc": auc},
        code_fingerprint="abc123",
        run_id=run_id,
        feature_names=("risk_score",),
    )


@pytest.fixture(scope="module")
def mlflow_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One database for the module: creating MLflow's schema takes seconds.
    return tmp_path_factory.mktemp("mlflow")


CONFIG = MlflowModelRegistryConfig(tracking_uri="sqlite:///data/mlflow.db")


@pytest.fixture
def ledger(mlflow_root: Path, request: pytest.FixtureRequest) -> Ledger:
    """The project's journal in a registry database beside MLflow's (a project per test)."""
    engine = open_engine(SqliteRegistryConfig(path="data/registry.db"), repo_root=mlflow_root)
    return Ledger(engine, project=request.node.name.removeprefix("test_")[:40])


@pytest.fixture
def registry(mlflow_root: Path, ledger: Ledger) -> MlflowModelRegistry:
    return MlflowModelRegistry.open(
        CONFIG, repo_root=mlflow_root, project=ledger.project, transitions=ledger
    )


class Crash(Exception):
    """The process 'dies' here."""


class CrashingRegistry(MlflowModelRegistry):
    """Test-only: the real registry, stopped after ``writes`` alias writes."""

    def __init__(self, *args: Any, writes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes_left = writes

    def _write_alias(self, name: str, alias: str, version: int | None) -> None:
        if self.writes_left == 0:
            raise Crash(f"crashed before writing {alias}")
        self.writes_left -= 1
        super()._write_alias(name, alias, version)


def _crashing(registry: MlflowModelRegistry, ledger: Ledger, writes: int) -> CrashingRegistry:
    return CrashingRegistry(
        registry._client,
        project=ledger.project,
        experiment_id=registry._experiment_id,
        transitions=ledger,
        writes=writes,
    )


def _aliases(registry: MlflowModelRegistry, name: str) -> dict[str, int | None]:
    found = {a: registry.alias(name, a) for a in (CHAMPION, PREVIOUS, CHALLENGER)}
    return {a: None if v is None else v.version for a, v in found.items()}


def test_versions_record_lineage_and_load_back(registry: MlflowModelRegistry) -> None:
    v1 = registry.register("fraud_model", {"weights": [1, 2]}, lineage=_lineage("r1", 0.8))
    again = registry.register("fraud_model", {"weights": [9]}, lineage=_lineage("r1", 0.8))
    assert (v1.version, again.version) == (1, 1)  # idempotent by run id
    v2 = registry.register("fraud_model", {"weights": [3]}, lineage=_lineage("r2", 0.9))
    assert [v.version for v in registry.versions("fraud_model")] == [1, 2]
    assert v2.lineage.training_dataset == "fraud_model__r2"
    assert v2.lineage.service_pins[0]["view"] == "merchant_risk"
    assert v2.lineage.metrics == {"roc_auc": 0.9}
    assert registry.load(v2) == {"weights": [3]}


def test_promotion_and_rollback_move_aliases(registry: MlflowModelRegistry) -> None:
    registry.register("m", "one", lineage=_lineage("r1", 0.8))
    registry.register("m", "two", lineage=_lineage("r2", 0.9))
    registry.promote("m", 1)
    registry.set_alias("m", CHALLENGER, 2)
    assert registry.alias("m", CHALLENGER).version == 2  # type: ignore[union-attr]
    assert registry.promote("m", 2).version == 2
    assert registry.alias("m", PREVIOUS).version == 1  # type: ignore[union-attr]
    assert registry.alias("m", CHALLENGER) is None
    assert registry.rollback("m").version == 1
    assert registry.alias("m", CHAMPION).version == 1  # type: ignore[union-attr]
    assert registry.alias("m", PREVIOUS).version == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("writes", [0, 1, 2])
def test_promotion_interrupted_between_alias_writes_is_completed_by_a_rerun(
    registry: MlflowModelRegistry, ledger: Ledger, writes: int
) -> None:
    registry.register("m", "one", lineage=_lineage("r1", 0.8))
    registry.register("m", "two", lineage=_lineage("r2", 0.9))
    registry.promote("m", 1)
    registry.set_alias("m", CHALLENGER, 2)
    with pytest.raises(Crash):
        _crashing(registry, ledger, writes).promote("m", 2)
    # Mid-crash, the one alias read that resolves the champion sees the old or the new one.
    assert _aliases(registry, "m")[CHAMPION] in (1, 2)
    [pending] = ledger.transitions("m", pending=True)
    assert pending.target == {PREVIOUS: 1, CHAMPION: 2, CHALLENGER: None}
    # The re-run completes the recorded intent (it does not recompute from half-written
    # aliases, which after the first write would make 'previous' the new champion's twin).
    assert registry.promote("m", 2).version == 2
    assert _aliases(registry, "m") == {CHAMPION: 2, PREVIOUS: 1, CHALLENGER: None}
    assert ledger.transitions("m", pending=True) == []
    assert [t.state for t in ledger.transitions("m")][-1] is TransitionState.DONE


def test_rollback_interrupted_after_one_write_is_completed_not_swapped_twice(
    registry: MlflowModelRegistry, ledger: Ledger
) -> None:
    registry.register("m", "one", lineage=_lineage("r1", 0.8))
    registry.register("m", "two", lineage=_lineage("r2", 0.9))
    registry.promote("m", 1)
    registry.promote("m", 2)
    with pytest.raises(Crash):
        _crashing(registry, ledger, 1).rollback("m")
    assert _aliases(registry, "m")[CHAMPION] == 1  # champion written, previous not yet
    assert registry.rollback("m").version == 1
    assert _aliases(registry, "m") == {CHAMPION: 1, PREVIOUS: 2, CHALLENGER: None}


def test_any_next_transition_first_completes_a_pending_one(
    registry: MlflowModelRegistry, ledger: Ledger
) -> None:
    for i in (1, 2, 3):
        registry.register("m", f"v{i}", lineage=_lineage(f"r{i}", 0.8))
    registry.promote("m", 1)
    with pytest.raises(Crash):
        _crashing(registry, ledger, 1).promote("m", 2)
    assert registry.promote("m", 3).version == 3
    # v2's promotion was completed first, so v2 is what v3 replaced.
    assert _aliases(registry, "m") == {CHAMPION: 3, PREVIOUS: 2, CHALLENGER: None}
    assert [t.target[CHAMPION] for t in ledger.transitions("m")] == [1, 2, 3]


def test_promoting_an_unknown_version_records_no_intent(
    registry: MlflowModelRegistry, ledger: Ledger
) -> None:
    registry.register("m", "one", lineage=_lineage("r1", 0.8))
    with pytest.raises(ModelNotFound, match="Known versions: v1"):
        registry.promote("m", 7)
    assert ledger.transitions("m") == []


def test_tampered_artifact_fails_to_load(registry: MlflowModelRegistry) -> None:
    version = registry.register("m", "one", lineage=_lineage("r1", 0.8))
    path = Path(version.artifact_uri.removeprefix("file://")) / "model.pkl"
    path.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        registry.load(version)


def test_the_closed_loop_runs_on_mlflow(mlflow_root: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from parity.retrain.config import RetrainConfig
    from parity.retrain.ledger import RunState
    from parity.retrain.model import LabelSource, Model, RetrainPolicy
    from parity.retrain.runner import run_retrain
    from parity.retrain.serving import ModelServer
    from parity.retrain.wiring import open_loop
    from parity.scaffold import init_repo
    from parity.store import FeatureStore

    end = datetime(2026, 2, 1, tzinfo=UTC)
    root = init_repo(tmp_path / "fraud", project="mlflow_loop", rows=8_000, end=end)
    uri = f"sqlite:///{mlflow_root / 'data' / 'mlflow.db'}"
    config = RetrainConfig.model_validate(
        {"model_registry": {"type": "mlflow", "tracking_uri": uri}}
    )
    model = Model(
        "fraud_model",
        feature_service="fraud_detection@v1",
        labels=LabelSource(
            "data/transactions.parquet",
            entity_keys=("user_id", "merchant_id"),
            label_column="is_fraud",
            request_features=("amount",),
        ),
        policy=RetrainPolicy(bootstrap_resamples=100, shadow_min_requests=5),
    )
    with FeatureStore(root) as store:
        store.apply(message="test", actor="test")
        for report in store.materialize(end - timedelta(days=60), end):
            store.promote(report.ref, message="validated")
        loop = open_loop(store.retraining, clock=lambda: end, config=config)
        try:
            report = run_retrain(loop, model)
            assert report.state is RunState.PROMOTED
            champion = loop.registry.alias("fraud_model", CHAMPION)
            assert champion is not None
            assert (
                champion.lineage.training_dataset == report.outputs["build_training_set"]["dataset"]
            )
            server = ModelServer(store.retraining, loop.registry)
            served = server.predict(
                "fraud_model", [{"user_id": 1, "merchant_id": 1, "amount": 20.0}]
            )
            server.close()
            assert served.version == champion.version
        finally:
            loop.close()


def test_names_lists_only_this_projects_models(registry: MlflowModelRegistry) -> None:
    registry.register("zeta", "z", lineage=_lineage("r1", 0.8))
    registry.register("alpha", "a", lineage=_lineage("r2", 0.8))
    assert registry.names() == ["alpha", "zeta"]


def test_the_default_bulk_reads_match_the_per_model_reads(registry: MlflowModelRegistry) -> None:
    registry.register("m", "one", lineage=_lineage("r1", 0.8))
    registry.register("n", "two", lineage=_lineage("r2", 0.9))
    registry.promote("m", 1)
    assert registry.all_versions() == {n: list(registry.versions(n)) for n in ("m", "n")}
    assert registry.all_aliases() == {"m": {CHAMPION: 1}}
