"""``parity report performance``: per-window metrics (checked against scikit-learn), label
coverage, drop against validation, as JSON and as an HTML page; drift-error links shown."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from parity.monitor.link import DriftErrorLink, LinkVerdict
from parity.monitor.performance import ingest_labels, log_predictions
from parity.monitor.performance_report import (
    PerformanceOverview,
    performance_overview,
    render_performance_html,
)
from parity.monitor.records import monitoring_root
from parity.scaffold import init_repo
from parity.store import FeatureStore

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of predictions; labels for all of day 1 and half of day 2."""
    root = init_repo(tmp_path_factory.mktemp("perf") / "r", project="perf", rows=100)
    store = FeatureStore(root)
    monitoring = monitoring_root(store.offline_path)
    rng = np.random.default_rng(7)
    n = 400
    ids = [f"req-{i}" for i in range(n)]
    at = [DAY0 + timedelta(days=i // 200, minutes=i % 200) for i in range(n)]
    labels = rng.integers(0, 2, n)
    noise = np.where(np.arange(n) < 200, 0.25, 0.6)  # day 2 is worse
    scores = np.clip(labels + rng.normal(0, noise), 0, 1)
    log_predictions(
        monitoring,
        pa.table({"request_id": ids, "model": ["fraud"] * n, "predicted_at": at, "score": scores}),
    )
    labeled = [i for i in range(n) if i < 200 or i % 2 == 0]
    ingest_labels(
        monitoring,
        pa.table(
            {"request_id": [ids[i] for i in labeled], "label": [int(labels[i]) for i in labeled]}
        ),
    )
    np.save(root / "truth.npy", np.stack([labels, scores]))
    store.close()
    return root


def parity_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_metrics_per_window_equal_scikit_learn_and_drops_are_against_validation(
    repo: Path,
) -> None:
    labels, scores = np.load(repo / "truth.npy")
    html = repo / "perf.html"
    result = parity_cli(
        repo, "report", "performance", "--model", "fraud", "--window", "1d",
        "--validation", "f1=0.9", "--validation", "auc=0.95", "--html", str(html), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["validation"] == {"f1": 0.9, "roc_auc": 0.95}
    first, second = data["windows"]
    assert first["start"].startswith("2026-03-01") and second["start"].startswith("2026-03-02")
    assert (first["predictions"], first["labeled"], first["label_coverage"]) == (200, 200, 1.0)
    assert (second["predictions"], second["labeled"], second["label_coverage"]) == (200, 100, 0.5)
    for window, rows in ((first, np.arange(200)), (second, np.arange(200, 400, 2))):
        y, s = labels[rows].astype(int), scores[rows]
        predicted = (s >= 0.5).astype(int)
        assert window["metrics"]["precision"] == pytest.approx(precision_score(y, predicted))
        assert window["metrics"]["recall"] == pytest.approx(recall_score(y, predicted))
        assert window["metrics"]["f1"] == pytest.approx(f1_score(y, predicted))
        assert window["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, s))
        assert window["drops"]["f1"] == pytest.approx(0.9 - f1_score(y, predicted))
    assert second["metrics"]["f1"] < first["metrics"]["f1"]
    assert data["links"] == [] and data["dataset"] is None
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "polyline" in page
    assert "Model performance of fraud" in page and "50.0%" in page


def test_bad_window_is_a_usage_error_naming_the_value(repo: Path) -> None:
    result = parity_cli(repo, "report", "performance", "--model", "fraud", "--window", "1w")
    assert result.returncode == 2
    assert "--window '1w'" in result.stdout + result.stderr


def test_html_lists_drift_error_links_with_their_verdicts(repo: Path) -> None:
    store = FeatureStore(repo)
    report = performance_overview(
        store.offline_path, model="fraud", window=timedelta(days=1)
    ).report
    store.close()
    links = (
        DriftErrorLink("amount", 6, 0.94, 0.005, LinkVerdict.HARMFUL),
        DriftErrorLink("country", 6, -0.1, 0.8, LinkVerdict.BENIGN),
    )
    overview = PerformanceOverview(report, "fraud_train", "f1", {"amount": [0.1, 0.3]}, links)
    page = render_performance_html(overview)
    assert page.index("amount") < page.index("country")  # most correlated first
    assert ">harmful<" in page and ">benign<" in page and "fraud_train" in page
    assert overview.to_dict()["links"][0] == {
        "feature": "amount", "windows": 6, "correlation": 0.94, "p_value": 0.005,
        "verdict": "harmful",
    }  # fmt: skip
