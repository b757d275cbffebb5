"""Retraining alerts go through the monitor's alert routes, de-duplicated, and stay in the
ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from parity.monitor.alerts import AlertDispatcher
from parity.monitor.config import AlertSettings, RouteSettings
from parity.retrain.alerts import MemoryAlertSink, RoutedAlertSink, Severity


def _settings(sink: Path) -> AlertSettings:
    code = f"import sys; open({str(sink)!r}, 'a').write(sys.stdin.read() + '\\n')"
    return AlertSettings(routes=[RouteSettings(type="command", argv=[sys.executable, "-c", code])])


def _delivered(sink: Path) -> list[dict[str, object]]:
    if not sink.exists():
        return []
    return [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]


def test_retraining_alerts_reach_the_routes_and_the_ledger(tmp_path: Path) -> None:
    # Fails on main: retraining alerts went only to their own table.
    sink = tmp_path / "delivered.jsonl"
    ledger = MemoryAlertSink()
    routed = RoutedAlertSink(ledger, _settings(sink), root=tmp_path / "m", repo_root=tmp_path)
    routed.alert("fraud_model", Severity.CRITICAL, "run 1a2b3c4d5e6f7a8b failed: boom", {})
    [alert] = _delivered(sink)
    assert (alert["rule"], alert["subject"], alert["severity"]) == (
        "retraining",
        "fraud_model",
        "critical",
    )
    assert [message for _, _, message, _ in ledger.alerts] == ["run 1a2b3c4d5e6f7a8b failed: boom"]
    stored = AlertDispatcher(tmp_path / "m", []).history().to_pylist()
    assert [a["rule"] for a in stored] == ["retraining"]


def test_a_repeated_loop_breaker_message_is_delivered_once(tmp_path: Path) -> None:
    # Fails on main: the breaker's "a person must look" was repeated on every scheduler pass.
    sink = tmp_path / "delivered.jsonl"
    routed = RoutedAlertSink(
        MemoryAlertSink(), _settings(sink), root=tmp_path / "m", repo_root=tmp_path
    )
    breaker = "loop breaker tripped after {} failed runs: a person must look"
    for failures in (3, 3, 4):
        routed.alert("fraud_model", Severity.CRITICAL, breaker.format(failures), {})
    routed.alert("fraud_model", Severity.WARN, "candidate rejected: auc 0.71 < 0.90", {})
    delivered = _delivered(sink)
    assert [a["severity"] for a in delivered] == ["critical", "warn"]
    assert [a.delivery.value for a in routed.delivered] == [
        "sent",
        "duplicate",
        "duplicate",
        "sent",
    ]
