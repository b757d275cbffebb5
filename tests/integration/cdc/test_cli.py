"""``parity cdc run`` and ``parity stream run`` as an operator runs them: settings from
parity.yaml, /metrics, /healthz and /readyz on their own port, a drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import parity as p

from .conftest import free_port
from .test_end_to_end import AGGREGATIONS, ORDER, SOURCES, _drop_keys
from .test_postgres_capture import _create_orders, _execute

pytestmark = pytest.mark.redis


def _parity(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "parity", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _get(port: int, path: str, *, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_capture_and_processor_run_from_parity_yaml_with_operator_endpoints(
    tmp_path: Path, pg_database: str, redis_url: str, unique_prefix: str
) -> None:
    stream = f"{unique_prefix}_orders"
    common = f"url: '{redis_url}', coordination_url: '{redis_url}', stream: {stream}"
    (tmp_path / "parity.yaml").write_text(
        f"project: {unique_prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {unique_prefix}}}\n"
        f"cdc:\n  orders_cdc: {{dsn: '{pg_database}', {common}}}\n"
        f"stream:\n  order_stats: {{{common}, checkpoint_interval_seconds: 0.2}}\n"
    )
    view = p.FeatureView(
        "order_stats", entities=[ORDER], source=SOURCES["postgres"], aggregations=AGGREGATIONS
    )
    with p.FeatureStore(tmp_path) as store:
        store.apply([ORDER, view], message="cdc cli")
    _create_orders(pg_database, 20)
    capture_port, processor_port = free_port(), free_port()
    capture = _parity("cdc", "run", "orders_cdc", "--metrics-port", str(capture_port), cwd=tmp_path)
    processor = _parity(
        "stream", "run", "order_stats", "--metrics-port", str(processor_port), cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        while _get(capture_port, "/readyz").status_code != 200:
            assert time.monotonic() < deadline and capture.poll() is None
            time.sleep(0.1)
        _execute(pg_database, "DELETE FROM orders WHERE order_id <= 5")
        while True:
            metrics = _get(processor_port, "/metrics").text
            if "parity_stream_applied 25.0" in metrics:
                break
            assert time.monotonic() < deadline and processor.poll() is None, metrics
            time.sleep(0.2)
        assert _get(processor_port, "/readyz").status_code == 200
        assert _get(processor_port, "/healthz").status_code == 200
        for name in (
            "parity_stream_duplicates",
            "parity_stream_late_dropped",
            "parity_stream_dead_lettered",
            "parity_stream_checkpoint_age_seconds",
            "parity_stream_window_state_entities",
            "parity_stream_publish_to_online_seconds_bucket",
            'parity_stream_lag_events{partition="0"}',
        ):
            assert name in metrics, name
        capture_metrics = _get(capture_port, "/metrics").text
        assert "parity_cdc_deletes_published 5.0" in capture_metrics
        assert "parity_cdc_slot_lag_bytes" in capture_metrics
    finally:
        for process in (processor, capture):
            process.send_signal(signal.SIGTERM)  # a drain: checkpoint, release, exit 0
        outputs = [process.communicate(timeout=60) for process in (processor, capture)]
        _drop_keys(redis_url, unique_prefix)
    assert processor.returncode == 0, outputs[0][1]
    assert capture.returncode == 0, outputs[1][1]
    assert "offline_rows_appended" in outputs[0][0]
