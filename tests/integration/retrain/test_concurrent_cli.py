"""Two ``parity retrain run`` processes for the same model at once: exactly one runs.

The example repository with its registry (definitions, retrain tables, built-in model
registry) on SQLite or on the real PostgreSQL server (a fresh schema). The loser is
refused by the lock (the winner is running) or, if the winner already finished, by the
rate limit; either way it exits 1 and only one run is recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from parity.retrain.ledger import RunState
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
    policy=RetrainPolicy(bootstrap_resamples=200, shadow_min_requests=5),
)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "fraud", project="race", rows=8_000, end=END)
    if request.param == "postgresql":
        url, schema = request.getfixturevalue("postgres_schema")
        config = yaml.safe_load((root / "parity.yaml").read_text())
        config["registry"] = {"type": "postgresql", "url": url, "schema": schema}
        (root / "parity.yaml").write_text(yaml.safe_dump(config))
    (root / "models.py").write_text(MODELS)
    with FeatureStore(root) as store:
        store.apply(message="test", actor="test")
        for report in store.materialize(END - timedelta(days=60), END):
            store.promote(report.ref, message="validated")
    return root


def test_two_processes_running_one_model_run_it_once(repo: Path) -> None:
    command = [sys.executable, "-m", "parity", "--repo", str(repo), "retrain", "run"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [*command, "fraud_model", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(out + err for code, out, err in results if code == 1)
    assert "locked by run" in loser or "rate limit" in loser, loser
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining)
        try:
            runs = loop.ledger.runs("fraud_model")
            alerts = loop.ledger.alerts("fraud_model")
        finally:
            loop.close()
    assert [r.state for r in runs] == [RunState.PROMOTED]
    assert any("locked by run" in a["message"] or "rate limit" in a["message"] for a in alerts)
