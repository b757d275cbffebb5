"""``parity scheduler`` decides on the monitor's evidence by default, with a controlled clock.

The example repository on embedded defaults; the champion serves real requests through
the model server, and each online read and its scores go to the real request log (the
feature server's writer, as ``/predict`` logs them) at controlled instants; late labels
are ingested by request id.
Served traffic drifts window after window towards risky merchants; the labels make the
champion's error rise with that drift (harmful), fall while it drifts (benign), or there
is too little of either (insufficient data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from parity.monitor.performance import ingest_labels
from parity.monitor.records import monitoring_root
from parity.monitor.served import request_log_root
from parity.retrain.context import find_model
from parity.retrain.ledger import RunState
from parity.retrain.registries.base import CHAMPION
from parity.retrain.runner import run_retrain
from parity.retrain.scheduler import no_evidence, tick
from parity.retrain.serving import ModelServer
from parity.retrain.wiring import Loop, open_loop
from parity.scaffold import init_repo
from parity.serve.config import RequestLogConfig
from parity.serve.metrics import ServerMetrics
from parity.serve.request_log import RequestLog, ServedPrediction
from parity.store import FeatureStore

# The data ends at midnight today, so online values read now are within their TTL.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
TRAINED = END
NOW = END + timedelta(days=2)  # past the rate limit; windows are epoch-aligned hours
WINDOWS = 8
ROWS_PER_WINDOW = 300
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


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """The example repo with a champion (v1) and hourly evidence windows in parity.yaml."""
    root = init_repo(tmp_path / "fraud", project="fraud", rows=8_000, end=END)
    config = yaml.safe_load((root / "parity.yaml").read_text())
    config["retrain"] = {
        "evidence": {"window_seconds": 3600, "link_windows": WINDOWS, "min_labelled_rows": 30}
    }
    (root / "parity.yaml").write_text(yaml.safe_dump(config))
    (root / "models.py").write_text(MODELS)
    with FeatureStore(root) as store:
        store.apply(message="test", actor="test")
        for report in store.materialize(END - timedelta(days=60), END):
            store.promote(report.ref, message="validated")
        loop = open_loop(store.retraining, clock=Clock(TRAINED))
        try:
            assert run_retrain(loop, find_model(root, "fraud_model")).state is RunState.PROMOTED
        finally:
            loop.close()
    yield root


def _serve(
    store: FeatureStore, loop: Loop, *, windows: int, rows: int, error: list[float] | None
) -> None:
    """Serve ``rows`` entity rows per hourly window (drifting to risky merchants), logged
    as ``/predict`` logs them; with ``error``, label each window so the champion is wrong
    on that share of its rows."""
    rng = np.random.default_rng(7)
    txns = pq.read_table(store.repo_path / "data/transactions.parquet").to_pandas()
    risk = store.get_online_features(
        feature_service="fraud_detection",
        entity_rows=[{"user_id": 1, "merchant_id": int(m)} for m in txns["merchant_id"].unique()],
    ).to_dict()
    by_risk = sorted(zip(risk["risk_score"], txns["merchant_id"].unique(), strict=True))
    risky = [int(m) for r, m in by_risk[-max(3, len(by_risk) // 10) :]]
    clock = Clock(NOW)
    log_root = request_log_root(store.offline_path)
    log = RequestLog(log_root, RequestLogConfig(), ServerMetrics())
    log.start()
    served: list[tuple[str, int, datetime]] = []
    server = ModelServer(
        store.retraining,
        loop.registry,
        clock=clock,
        on_served=lambda r: served.append(r),  # type: ignore[func-returns-value]
    )
    labels = []
    try:
        for k in range(windows):
            clock.now = NOW - timedelta(hours=windows - k) + timedelta(minutes=5)
            share = k / max(windows - 1, 1)  # 0 -> all risky merchants
            # The same users every window: only the merchant mix (the drift) changes.
            picked = txns.sample(rows, random_state=0)
            merchants = np.where(
                rng.random(rows) < share, rng.choice(risky, rows), picked["merchant_id"]
            )
            batch_scores = []
            for i in range(0, rows, 50):
                entity_rows = [
                    {"user_id": int(u), "merchant_id": int(m), "amount": float(a)}
                    for u, m, a in zip(
                        picked["user_id"][i : i + 50],
                        merchants[i : i + 50],
                        picked["amount"][i : i + 50],
                        strict=True,
                    )
                ]
                result = server.predict("fraud_model", entity_rows)
                response = dataclasses.replace(served.pop(), served_at=clock.now)
                scored = ServedPrediction(result.model, result.version, result.role, result.scores)
                log.record(
                    response, request_id=result.request_id, plan=response._plan, prediction=scored
                )
                batch_scores += [(result.request_id, j, s) for j, s in enumerate(result.scores)]
            if error is not None:
                scores = np.array([s for _, _, s in batch_scores])
                truth = scores > np.median(scores)
                flip = rng.random(len(scores)) < error[k]
                labels += [
                    (rid, j, int(t ^ f))
                    for (rid, j, _), t, f in zip(batch_scores, truth, flip, strict=True)
                ]
    finally:
        server.close()
        log.close()
    if labels:
        rid, row, label = zip(*labels, strict=True)
        ingested = ingest_labels(
            monitoring_root(store.offline_path),
            pa.table({"request_id": list(rid), "row_index": list(row), "label": list(label)}),
            now=NOW,
            request_log=log_root,
        )
        assert ingested.matched == len(labels)


def test_drift_whose_error_rises_with_it_triggers_a_retrain(repo: Path) -> None:
    # Performance alone may not retrain here: the drift-error link must be what fires.
    (repo / "models.py").write_text(
        MODELS.replace(
            "shadow_min_requests=5",
            "shadow_min_requests=5, performance_drop=0.95, performance_warn=0.95",
        )
    )
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            rising = [0.02 + 0.06 * k for k in range(WINDOWS)]  # wrong on 2% ... 44%
            _serve(store, loop, windows=WINDOWS, rows=ROWS_PER_WINDOW, error=rising)
        finally:
            loop.close()
        result = tick(store.retraining, clock=Clock(NOW))  # the default provider: the monitor's
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            [decision] = loop.ledger.decisions("fraud_model")
            runs = loop.ledger.runs("fraud_model")
        finally:
            loop.close()
    assert decision["action"] == "retrain"
    assert any(r.startswith("drift: risk_score") and "linked" in r for r in decision["reasons"])
    evidence = decision["evidence"]
    newest = f"{(NOW - timedelta(hours=1)).isoformat()}/{NOW.isoformat()}"
    assert evidence["drift"]["window"] == newest
    risk = next(f for f in evidence["drift"]["features"] if f["feature"] == "risk_score")
    assert risk["drifted"] and risk["harmful"] and risk["psi"] > 0.1
    link = next(x for x in evidence["monitor"]["links"] if x["feature"] == "risk_score")
    assert link["verdict"] == "harmful" and link["windows"] == WINDOWS
    assert evidence["performance"]["value"] < evidence["performance"]["validation_value"]
    assert not any(r.startswith("performance") for r in decision["reasons"])
    # The decision started a run, triggered by the drift, recorded with its outcome.
    assert runs[-1].trigger == "drift"
    assert result.outcomes["fraud_model"] == runs[-1].state.value
    assert runs[-1].state in (RunState.PROMOTED, RunState.REJECTED)


def test_drift_without_rising_error_only_warns(repo: Path) -> None:
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            falling = [0.44 - 0.06 * k for k in range(WINDOWS)]  # drifts, yet gets better
            _serve(store, loop, windows=WINDOWS, rows=ROWS_PER_WINDOW, error=falling)
        finally:
            loop.close()
        result = tick(store.retraining, clock=Clock(NOW))
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            [decision] = loop.ledger.decisions("fraud_model")
            runs = loop.ledger.runs("fraud_model")
            alerts = loop.ledger.alerts("fraud_model")
        finally:
            loop.close()
    assert result.outcomes == {"fraud_model": "warn"}
    assert decision["action"] == "warn"
    assert any("warn only" in r and "risk_score" in r for r in decision["reasons"])
    link = next(x for x in decision["evidence"]["monitor"]["links"] if x["feature"] == "risk_score")
    assert link["verdict"] == "benign"
    assert [r.trigger for r in runs] == ["manual"]  # only the champion's own run
    assert alerts[-1]["severity"] == "warn"


def test_insufficient_data_is_no_evidence_and_does_nothing(repo: Path) -> None:
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            # One window of 50 served rows (the monitor needs 200), no labels at all.
            _serve(store, loop, windows=1, rows=50, error=None)
        finally:
            loop.close()
        result = tick(store.retraining, clock=Clock(NOW))
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            [decision] = loop.ledger.decisions("fraud_model")
            runs = loop.ledger.runs("fraud_model")
        finally:
            loop.close()
    assert result.outcomes == {"fraud_model": "none"}
    assert decision["evidence"]["drift"] is None and decision["evidence"]["performance"] is None
    notes = " | ".join(decision["evidence"]["notes"])
    assert "drift: insufficient data: 50 served rows" in notes
    assert "performance: insufficient data: 0 labelled predictions" in notes
    assert len(runs) == 1


def test_no_monitor_evidence_fires_on_schedules_only(repo: Path) -> None:
    with FeatureStore(repo) as store:
        result = tick(store.retraining, clock=Clock(NOW), evidence=no_evidence)
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            [decision] = loop.ledger.decisions("fraud_model")
        finally:
            loop.close()
    assert result.outcomes == {"fraud_model": "none"}
    assert decision["evidence"]["notes"] == ["monitor evidence disabled: schedules only"]


def test_champion_is_what_the_evidence_is_about(repo: Path) -> None:
    with FeatureStore(repo) as store:
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            champion = loop.registry.alias("fraud_model", CHAMPION)
        finally:
            loop.close()
        tick(store.retraining, clock=Clock(NOW))
        loop = open_loop(store.retraining, clock=Clock(NOW))
        try:
            [decision] = loop.ledger.decisions("fraud_model")
        finally:
            loop.close()
    assert champion is not None
    assert decision["evidence"]["monitor"]["champion"] == champion.ref == "fraud_model@v1"
    assert "drift: no evidence" in decision["evidence"]["notes"][0] or (
        "drift: insufficient data: 0 served rows" in decision["evidence"]["notes"][0]
    )
