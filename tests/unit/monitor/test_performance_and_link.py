"""Model performance from late labels, and the drift-error link."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from parity.monitor.alerts import alert_rules, evaluate
from parity.monitor.config import AlertSettings
from parity.monitor.link import LinkVerdict, drift_by_window, drift_error_link
from parity.monitor.performance import (
    error_by_window,
    ingest_labels,
    log_predictions,
    performance,
)
from parity.monitor.profile import profile_table

DAY0 = datetime(2026, 11, 20, tzinfo=UTC)


def hand_metrics(labels: list[int], scores: list[float]) -> tuple[float, float, float]:
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s >= 0.5)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 0 and s >= 0.5)
    fn = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s < 0.5)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    rng = np.random.default_rng(1)
    rows = []
    for day in range(3):
        for i in range(60):
            label = int(rng.random() < 0.3)
            noise = 0.2 + 0.15 * day  # the model gets worse every day
            score = float(np.clip(label * 0.7 + rng.normal(0.15, noise), 0, 1))
            at = DAY0 + timedelta(days=day, minutes=i)
            rows.append({"request_id": f"d{day}-{i}", "model": "fraud@1", "score": score,
                         "predicted_at": at, "label": label})  # fmt: skip
    predictions = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "label"} for r in rows])
    log_predictions(tmp_path, predictions)
    log_predictions(tmp_path, pa.table({"request_id": ["other"], "model": ["x@1"], "score": [0.9],
                                        "predicted_at": [DAY0]}))  # fmt: skip
    return tmp_path, rows


def test_metrics_per_window_equal_hand_computed_ones(
    logged: tuple[Path, list[dict[str, object]]],
) -> None:
    root, rows = logged
    labeled = [r for i, r in enumerate(rows) if i % 4 != 0]  # a quarter never gets a label
    ingest = ingest_labels(root, pa.Table.from_pylist(
        [{"request_id": r["request_id"], "label": r["label"]} for r in labeled]
        + [{"request_id": "nobody", "label": 1}]))  # fmt: skip
    assert (ingest.rows, ingest.matched) == (len(labeled) + 1, len(labeled))
    report = performance(root, model="fraud@1", window=timedelta(days=1),
                         validation={"f1": 0.9, "auc": 0.95})  # fmt: skip
    assert [w.start for w in report.windows] == [DAY0 + timedelta(days=d) for d in range(3)]
    for day, window in enumerate(report.windows):
        mine = [r for r in labeled if str(r["request_id"]).startswith(f"d{day}-")]
        precision, recall, f1 = hand_metrics([int(r["label"]) for r in mine],  # type: ignore[call-overload]
                                             [float(r["score"]) for r in mine])  # type: ignore[arg-type]  # fmt: skip
        assert window.predictions == 60 and window.labeled == len(mine) == 45
        assert window.label_coverage == 0.75
        assert window.metrics["precision"] == pytest.approx(precision)
        assert window.metrics["recall"] == pytest.approx(recall)
        assert window.metrics["f1"] == pytest.approx(f1)
        assert window.drops["f1"] == pytest.approx(0.9 - f1)
    errors = error_by_window(report)
    assert errors[2] is not None and errors[0] is not None and errors[2] > errors[0]


def test_the_newest_label_of_a_prediction_wins(
    logged: tuple[Path, list[dict[str, object]]],
) -> None:
    root, rows = logged
    first = rows[0]
    ingest_labels(root, pa.table({"request_id": [first["request_id"]], "label": [0]}),
                  now=DAY0 + timedelta(days=5))  # fmt: skip
    ingest_labels(root, pa.table({"request_id": [first["request_id"]], "label": [1]}),
                  now=DAY0 + timedelta(days=6))  # fmt: skip
    report = performance(root, model="fraud@1", window=timedelta(days=1))
    assert report.windows[0].labeled == 1
    assert report.windows[0].metrics["recall"] in (0.0, 1.0)
    assert report.windows[0].metrics["roc_auc"] is None  # one class only


def test_labels_ingest_cli_reads_a_csv(tmp_path: Path) -> None:
    from parity.scaffold import init_repo

    root = init_repo(tmp_path / "r", project="labels", rows=100)
    monitoring = root / "data/offline/monitoring"
    log_predictions(monitoring, pa.table({"request_id": ["a", "b"], "model": ["m", "m"],
                                          "score": [0.2, 0.8],
                                          "predicted_at": [DAY0, DAY0]}))  # fmt: skip
    pacsv.write_csv(pa.table({"request_id": ["a", "b", "c"], "label": [0, 1, 1]}),
                    tmp_path / "labels.csv")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), "labels", "ingest",
         str(tmp_path / "labels.csv"), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"rows": 3, "matched": 2, "unmatched": 1}


def test_drift_that_moves_with_error_is_harmful_and_noise_is_benign() -> None:
    error = [0.1, 0.12, 0.18, 0.2, 0.25, 0.3, 0.33, 0.4]
    links = {
        link.feature: link
        for link in drift_error_link(
            {
                "amount": [0.01, 0.02, 0.05, 0.07, 0.1, 0.2, 0.25, 0.3],
                "country": [0.3, 0.01, 0.2, 0.02, 0.25, 0.03, 0.1, 0.05],
                "short": [0.1, None, None, None, None, None, None, 0.2],
            },
            error,
        )
    }
    assert links["amount"].verdict is LinkVerdict.HARMFUL and links["amount"].harmful
    assert links["country"].verdict is LinkVerdict.BENIGN
    assert links["short"].verdict is LinkVerdict.INSUFFICIENT_DATA and links["short"].windows == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=5, max_size=30).filter(
        lambda pairs: len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1
    )
)
def test_link_correlation_is_scipys_spearman(pairs: list[tuple[float, float]]) -> None:
    drift, error = [a for a, _ in pairs], [b for _, b in pairs]
    [link] = drift_error_link({"x": drift}, error)
    expected = spearmanr(drift, error)
    if np.isnan(expected.statistic):
        assert link.verdict is LinkVerdict.INSUFFICIENT_DATA
    else:
        assert link.correlation == pytest.approx(float(expected.statistic))
        assert link.p_value == pytest.approx(float(expected.pvalue))


def test_drift_by_window_measures_each_window_and_skips_thin_ones() -> None:
    rng = np.random.default_rng(2)
    profile = profile_table(pa.table({"x": rng.normal(size=2000)}))
    times = [DAY0 + timedelta(days=d) for d in range(3) for _ in range(300)][:750]
    values = np.concatenate(
        [rng.normal(0, size=300), rng.normal(2, size=300), rng.normal(0, size=150)]
    )
    served = pa.table({"x": values, "served_at": pa.array(times, pa.timestamp("us", tz="UTC"))})
    psi = drift_by_window(profile, served, time_column="served_at",
                          starts=[DAY0 + timedelta(days=d) for d in range(3)],
                          window=timedelta(days=1))["x"]  # fmt: skip
    assert psi[0] is not None and psi[1] is not None and psi[0] < 0.1 < psi[1]
    assert psi[2] is None  # 150 rows: below min_rows


@pytest.mark.parametrize("name", ["roc_auc", "auc"])
def test_the_registry_s_roc_auc_is_compared_with_the_monitor_s(
    logged: tuple[Path, list[dict[str, object]]], name: str
) -> None:
    # Fails on main: the registry records roc_auc, the monitor computed "auc": no drop found.
    root, rows = logged
    ingest_labels(root, pa.Table.from_pylist(
        [{"request_id": r["request_id"], "label": r["label"]} for r in rows]))  # fmt: skip
    report = performance(root, model="fraud@1", window=timedelta(days=1),
                         validation={name: 0.99})  # fmt: skip
    for window in report.windows:
        assert window.metrics["roc_auc"] is not None
        assert window.drops["roc_auc"] == pytest.approx(0.99 - window.metrics["roc_auc"])
    assert any(o.metric == "roc_auc_drop" for o in report.observations())
    # The default rules alert on it (as on an F1 drop).
    rules = alert_rules(AlertSettings())
    raised = evaluate(rules, report.observations(), now=DAY0)
    assert "model_ranking" in {a.rule for a in raised}
