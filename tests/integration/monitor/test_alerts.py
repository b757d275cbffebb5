"""Alerts delivered to a real local HTTP server, a log file and a command; stored with
their evidence; de-duplicated and rate-limited."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from parity.monitor.alerts import (
    AlertDispatcher,
    AlertRule,
    Delivery,
    Observation,
    Severity,
    evaluate,
)
from parity.monitor.routes import CommandRoute, LogRoute, WebhookRoute
from parity.store import FeatureStore

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
RULES = [AlertRule("stale_values", "stale_entity_ratio", warn=0.01, critical=0.1)]


class Hook:
    """A webhook receiver on 127.0.0.1 that records bodies and answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/parity"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def stale(ratio: float, subject: str = "user_stats@v1") -> Observation:
    return Observation("stale_entity_ratio", subject, ratio, {"entities": 1000, "stale": 400})


def test_critical_alert_reaches_the_webhook_as_slack_json_and_is_stored(
    hook: Hook, tmp_path: Path
) -> None:
    dispatcher = AlertDispatcher(tmp_path, [WebhookRoute(hook.url)])
    [sent] = dispatcher.dispatch(evaluate(RULES, [stale(0.4)], now=NOW), now=NOW)
    assert sent.severity is Severity.CRITICAL and sent.delivery is Delivery.SENT
    [body] = hook.bodies
    assert body["text"].startswith(":rotating_light: critical: stale_entity_ratio of user_stats@v1")
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields["subject"] == "user_stats@v1" and fields["threshold"] == "0.1"
    [row] = dispatcher.history().to_pylist()
    assert row["delivery"] == "sent" and row["routes"] == ["webhook"]
    assert json.loads(row["evidence"]) == {"entities": 1000, "stale": 400}


def test_repeats_within_the_dedupe_window_are_stored_but_not_sent(
    hook: Hook, tmp_path: Path
) -> None:
    dispatcher = AlertDispatcher(
        tmp_path, [WebhookRoute(hook.url)], dedupe_window=timedelta(hours=1)
    )
    dispatcher.dispatch(evaluate(RULES, [stale(0.05)], now=NOW), now=NOW)
    later = NOW + timedelta(minutes=30)
    [repeat] = dispatcher.dispatch(evaluate(RULES, [stale(0.06)], now=later), now=later)
    assert repeat.delivery is Delivery.DUPLICATE
    # Escalating to critical is a new alert, not a repeat.
    [worse] = dispatcher.dispatch(evaluate(RULES, [stale(0.5)], now=later), now=later)
    assert worse.delivery is Delivery.SENT
    much_later = NOW + timedelta(hours=2)
    [again] = dispatcher.dispatch(evaluate(RULES, [stale(0.05)], now=much_later), now=much_later)
    assert again.delivery is Delivery.SENT
    assert len(hook.bodies) == 3
    assert dispatcher.history().num_rows == 4


def test_rate_limit_caps_deliveries_per_period(hook: Hook, tmp_path: Path) -> None:
    dispatcher = AlertDispatcher(tmp_path, [WebhookRoute(hook.url)], rate_limit=2)
    observations = [stale(0.5, f"view{i}@v1") for i in range(5)]
    outcomes = dispatcher.dispatch(evaluate(RULES, observations, now=NOW), now=NOW)
    assert [a.delivery for a in outcomes] == [Delivery.SENT] * 2 + [Delivery.RATE_LIMITED] * 3
    assert len(hook.bodies) == 2
    later = NOW + timedelta(hours=2)
    [fresh] = dispatcher.dispatch(evaluate(RULES, [stale(0.5, "view9@v1")], now=later), now=later)
    assert fresh.delivery is Delivery.SENT


def test_a_failing_route_is_recorded_and_does_not_stop_the_others(
    hook: Hook, tmp_path: Path
) -> None:
    hook.status = 500
    log_file = tmp_path / "alerts.jsonl"
    dispatcher = AlertDispatcher(tmp_path / "m", [WebhookRoute(hook.url), LogRoute(log_file)])
    [alert] = dispatcher.dispatch(evaluate(RULES, [stale(0.5)], now=NOW), now=NOW)
    assert alert.delivery is Delivery.FAILED
    assert alert.routes == ("log",)
    assert "500" in alert.errors[0]
    assert json.loads(log_file.read_text())["subject"] == "user_stats@v1"


def test_command_route_gets_the_alert_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "received.json"
    script = (
        "import os, sys; data = sys.stdin.read(); "
        f"open({str(out)!r}, 'w').write(os.environ['PARITY_ALERT_SEVERITY'] + data)"
    )
    dispatcher = AlertDispatcher(tmp_path / "m", [CommandRoute([sys.executable, "-c", script])])
    [alert] = dispatcher.dispatch(evaluate(RULES, [stale(0.02)], now=NOW), now=NOW)
    assert alert.delivery is Delivery.SENT
    text = out.read_text()
    assert text.startswith("warn") and json.loads(text[4:])["value"] == 0.02


def test_below_threshold_raises_nothing() -> None:
    assert evaluate(RULES, [stale(0.001)], now=NOW) == []
    low = AlertRule("auc", "auc", warn=0.8, critical=0.7, above=False)
    assert low.severity(0.75) is Severity.WARN and low.severity(0.9) is None


def test_status_alert_delivers_to_the_configured_webhook_and_parity_alerts_lists_it(
    hook: Hook, fraud_store: FeatureStore
) -> None:
    config = fraud_store.repo_path / "monitoring.yaml"
    config.write_text(
        "alerts:\n"
        f"  routes: [{{type: webhook, url: '{hook.url}'}}]\n"
        "  rules: [{name: any_lag, metric: freshness_lag_seconds, warn: 1}]\n"
    )
    try:
        status = parity_cli(fraud_store.repo_path, "status", "--alert", "--json")
        assert status.returncode == 0, status.stderr
        sent = json.loads(status.stdout)["alerts"]
        assert {a["subject"] for a in sent} == {
            "user_transaction_stats@v1", "user_profile@v1", "merchant_risk@v1",
        }  # fmt: skip
        assert {a["delivery"] for a in sent} == {"sent"} and len(hook.bodies) == 3
        again = json.loads(parity_cli(fraud_store.repo_path, "status", "--alert", "--json").stdout)
        assert {a["delivery"] for a in again["alerts"]} == {"duplicate"}
        listed = parity_cli(fraud_store.repo_path, "alerts", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [a["delivery"] for a in json.loads(listed.stdout)].count("duplicate") == 3
    finally:
        config.unlink()


def parity_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
