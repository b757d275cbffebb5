"""The MLflow model registry for real: MLflow with a SQLite backend in tmp_path.

Skips with a reason when mlflow is not installed, except under CI=true where it must run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parity.retrain.errors import ModelLoadError
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


@pytest.fixture
def registry(mlflow_root: Path, request: pytest.FixtureRequest) -> MlflowModelRegistry:
    config = MlflowModelRegistryConfig(tracking_uri="sqlite:///data/mlflow.db")
    project = request.node.name.removeprefix("test_")[:40]  # a project per test
    return MlflowModelRegistry.open(config, repo_root=mlflow_root, project=project)


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
        loop = open_loop(store, clock=lambda: end, config=config)
        try:
            report = run_retrain(loop, model)
            assert report.state is RunState.PROMOTED
            champion = loop.registry.alias("fraud_model", CHAMPION)
            assert champion is not None
            assert (
                champion.lineage.training_dataset == report.outputs["build_training_set"]["dataset"]
            )
            server = ModelServer(store, loop.registry)
            served = server.predict(
                "fraud_model", [{"user_id": 1, "merchant_id": 1, "amount": 20.0}]
            )
            server.close()
            assert served.version == champion.version
        finally:
            loop.close()
