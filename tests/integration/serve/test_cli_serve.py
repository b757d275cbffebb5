"""``parity serve`` as a user runs it: two worker processes, aggregated metrics, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pyarrow.dataset as ds

from .conftest import free_port


def test_parity_serve_two_workers_then_sigint_flushes_the_log(make_repo: Any) -> None:
    store = make_repo()
    port = free_port()
    env = {**os.environ, "PARITY__SERVER__REQUEST_LOG__FLUSH_INTERVAL_SECONDS": "3600"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parity",
            "--repo",
            str(store.repo_path),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # two worker processes start slowly on a busy machine
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "parity serve did not become ready"
            time.sleep(0.1)
        ids = []
        with httpx.Client(base_url=url) as client:
            for user in range(8):
                # A new connection per request: the kernel spreads them over the workers.
                reply = httpx.post(
                    f"{url}/get-online-features",
                    json={"feature_service": "live", "entity_rows": [{"user_id": user}]},
                )
                assert reply.status_code == 200
                ids.append(reply.json()["request_id"])
            # Summed over both workers; each publishes its counts about once a second.
            line = (
                'parity_requests_total{code="200",endpoint="/get-online-features",'
                'service="live"} 8.0'
            )
            until = time.monotonic() + 5
            while line not in (metrics := client.get("/metrics").text):
                assert time.monotonic() < until, metrics
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "NO API KEY CONFIGURED" in output
    root = store.repo_path / "data" / "offline" / "request_log"
    logged = ds.dataset(str(root), format="parquet", partitioning="hive").to_table()
    assert sorted(logged.column("request_id").to_pylist()) == sorted(ids)


def test_tls_needs_both_files_and_existing_paths(make_repo: Any, tmp_path: Any) -> None:
    import pytest

    from parity.errors import ConfigError
    from parity.serve.run import server_settings

    store = make_repo()
    with pytest.raises(
        ConfigError, match=r"needs both server\.tls_certfile and server\.tls_keyfile"
    ):
        server_settings(store.repo_path, tls_certfile=str(tmp_path / "cert.pem"))
    with pytest.raises(ConfigError, match="does not exist"):
        server_settings(
            store.repo_path,
            tls_certfile=str(tmp_path / "cert.pem"),
            tls_keyfile=str(tmp_path / "key.pem"),
        )
    config, workers = server_settings(store.repo_path, port=7000, workers=3)
    assert (config.host, config.port, workers) == ("127.0.0.1", 7000, 3)


def test_server_processes_bound_the_redis_timeout(make_repo: Any, monkeypatch: Any) -> None:
    from parity.serve.app import server_store

    store = make_repo()
    assert server_store(store.repo_path).config.online_store.type == "sqlite"
    monkeypatch.setenv("PARITY__ONLINE_STORE__TYPE", "redis")
    monkeypatch.setenv("PARITY__ONLINE_STORE__TIMEOUT_SECONDS", "10")
    opened = server_store(store.repo_path)
    assert opened.config.online_store.timeout_seconds == 1.0
    monkeypatch.setenv("PARITY__SERVER__ONLINE_TIMEOUT_SECONDS", "0.25")
    assert server_store(store.repo_path).config.online_store.timeout_seconds == 0.25
    opened.close()
