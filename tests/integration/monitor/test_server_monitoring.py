"""A real feature server (uvicorn on loopback) exposes the monitoring gauges on /metrics and
applies the block policy: 503 for the blocked view version only, visible in /ready and
/metrics, lifted by ``parity unblock`` and by a passing audit. On SQLite and on the real
Redis (private key prefix)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parity.client import Client
from parity.config import load_config
from parity.errors import ServingBlocked
from parity.scaffold import init_repo
from parity.serve.app import create_app
from parity.serve.config import ServerConfig
from parity.store import FeatureStore

VIEW = "user_transaction_stats"
REF = f"{VIEW}@v1"
MONITORING = """
monitoring:
  consistency: {on_inconsistent: block}
  serving: {refresh_seconds: 0.3, block_refresh_seconds: 0.1}
  alerts: {routes: [{type: log, path: alerts.jsonl}]}
"""


class Server:
    """uvicorn serving the real app in a thread on a free loopback port."""

    def __init__(self, store: FeatureStore) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        app = create_app(
            store, config=ServerConfig.model_validate({"request_log": {"enabled": False}})
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def corrupt(root: Path, users: int = 5) -> None:
    """Unpublished offline corrections of ``users`` users: online and offline now differ."""
    path = root / "data/user_transaction_stats.parquet"
    source = pq.read_table(path)
    latest = source.group_by("user_id").aggregate([("event_timestamp", "max")])
    chosen = sorted(latest.column("user_id").to_pylist())[:users]
    newest = source.join(latest, keys="user_id").filter(
        (pc.field("event_timestamp") == pc.field("event_timestamp_max"))
        & pc.field("user_id").isin(chosen)
    )
    fix = newest.drop_columns(["event_timestamp_max"])
    index = fix.schema.get_field_index("amount_mean_7d")
    fix = fix.set_column(index, "amount_mean_7d", pc.add(fix.column("amount_mean_7d"), 1.0))
    index = fix.schema.get_field_index("created_timestamp")
    now = pa.array([datetime.now(UTC)] * fix.num_rows, pa.timestamp("us", tz="UTC"))
    fix = fix.set_column(index, "created_timestamp", now)
    pq.write_table(pa.concat_tables([source, fix.select(source.column_names)]), path)


@pytest.fixture(params=["sqlite", "redis"])
def environ(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The online store for the test (environment overrides, as an operator sets them)."""
    if request.param == "sqlite":
        yield {}
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("unique_prefix")
    yield {
        "PARITY__ONLINE_STORE__TYPE": "redis",
        "PARITY__ONLINE_STORE__URL": url,
        "PARITY__ONLINE_STORE__KEY_PREFIX": prefix,
    }
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def repo(tmp_path: Path, environ: dict[str, str]) -> Iterator[FeatureStore]:
    root = init_repo(tmp_path / "r", project="srvmon", rows=600)
    with (root / "parity.yaml").open("a") as f:
        f.write(MONITORING)
    store = FeatureStore(root, config=load_config(root, environ=environ))
    store.apply(message="t")
    now = datetime.now(UTC)
    for report in store.materialize(now - timedelta(days=400), now):
        store.promote(report.ref, message="validated")
    yield store
    store.close()


def parity_cli(
    store: FeatureStore, environ: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **environ}  # the CLI sees the store the server serves
    return subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(store.repo_path), *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def gauges(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = httpx.get(f"{server.url}/metrics")
    assert reply.status_code == 200
    out = {}
    for family in text_string_to_metric_families(reply.text):
        for s in family.samples:
            if s.name.startswith("parity_monitor_"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def read(server: Server, feature: str) -> httpx.Response:
    body = {"features": [feature], "entity_rows": [{"user_id": 1}]}
    return httpx.post(f"{server.url}/get-online-features", json=body)


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


LABELS = (("version", "1"), ("view", VIEW))


def test_metrics_expose_freshness_sync_delay_and_quality_per_view_version(
    repo: FeatureStore,
) -> None:
    with Server(repo) as server:
        # The first refresh runs in the background right after the start.
        seen = eventually(lambda: _with_freshness(gauges(server)))
    runs = repo.registry.sync_records(repo.project, VIEW, 1)
    succeeded = next(r for r in runs if r.outcome == "succeeded")
    assert seen[("parity_monitor_sync_delay_seconds", LABELS)] == pytest.approx(
        succeeded.delay_seconds
    )
    assert seen[("parity_monitor_freshness_lag_seconds", LABELS)] > 0
    assert seen[("parity_monitor_online_entities", LABELS)] > 0
    assert ("parity_monitor_stale_entity_ratio", LABELS) in seen
    assert ("parity_monitor_missed_refreshes", LABELS) in seen
    quality = {
        dict(k[1])["status"]: v for k, v in seen.items()
        if k[0] == "parity_monitor_quality_status" and dict(k[1])["view"] == VIEW
    }  # fmt: skip
    assert quality == {"pass": 1.0, "warn": 0.0, "fail": 0.0}
    # No audit yet: no audit or blocked series invented.
    assert not any(k[0].startswith("parity_monitor_audit") for k in seen)


def test_block_policy_answers_503_for_the_blocked_version_until_unblocked(
    repo: FeatureStore, environ: dict[str, str]
) -> None:
    root = repo.repo_path
    corrupt(root)
    with Server(repo) as server:
        assert read(server, f"{REF}:amount_mean_7d").status_code == 200
        result = parity_cli(repo, environ, "audit", REF, "--json")
        assert result.returncode == 1, result.stderr
        audit = json.loads(result.stdout)
        assert audit["action"].startswith("blocked")
        assert [a["rule"] for a in audit["alerts"]] == ["online_offline_skew"]

        def blocked() -> httpx.Response:
            reply = read(server, f"{REF}:amount_mean_7d")
            assert reply.status_code == 503, reply.text
            return reply

        error = eventually(blocked).json()["error"]
        assert error["type"] == "ServingBlocked"
        assert REF in error["message"] and f"parity unblock {REF}" in error["message"]
        with Client(server.url) as client, pytest.raises(ServingBlocked, match=REF):
            client.get_online_features(
                features=[f"{REF}:amount_mean_7d"], entity_rows=[{"user_id": 1}]
            )
        # Other view versions keep serving.
        assert read(server, "user_profile@v1:age").status_code == 200
        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 200
        assert list(ready.json()["monitor"]["blocked"]) == [REF]

        def blocked_gauges() -> dict[Any, float]:
            seen = gauges(server)
            assert seen[("parity_monitor_blocked", LABELS)] == 1.0
            return seen

        seen = eventually(blocked_gauges)
        assert seen[("parity_monitor_audit_inconsistent", LABELS)] == 1.0
        assert seen[("parity_monitor_audit_mismatch_rate", LABELS)] == pytest.approx(
            audit["mismatch_rate"]
        )
        assert seen[("parity_monitor_audit_mismatch_rate", LABELS)] > 0

        unblocked = parity_cli(repo, environ, "unblock", REF, "-m", "checked", "--json")
        assert json.loads(unblocked.stdout) == {"ref": REF, "was_blocked": True, "unblocked": True}

        def serving() -> None:
            assert read(server, f"{REF}:amount_mean_7d").status_code == 200

        eventually(serving)
        assert httpx.get(f"{server.url}/ready").json()["monitor"]["blocked"] == {}
        again = parity_cli(repo, environ, "unblock", REF, "--json")
        assert json.loads(again.stdout)["was_blocked"] is False


def test_a_passing_audit_lifts_the_block_on_a_running_server(
    repo: FeatureStore, environ: dict[str, str]
) -> None:
    root = repo.repo_path
    corrupt(root)
    with Server(repo) as server:
        assert parity_cli(repo, environ, "audit", REF, "--json").returncode == 1
        eventually(lambda: _status(server, 503))
        # Publish the corrections (the operator's fix), then audit again: it passes.
        now = datetime.now(UTC)
        repo.sync_controller.materialize(VIEW, 1, start=now - timedelta(days=400), end=now)
        passed = parity_cli(repo, environ, "audit", REF, "--json")
        assert passed.returncode == 0, passed.stdout
        eventually(lambda: _status(server, 200))


def _with_freshness(seen: dict[Any, float]) -> dict[Any, float]:
    assert ("parity_monitor_freshness_lag_seconds", LABELS) in seen
    return seen


def _status(server: Server, code: int) -> None:
    assert read(server, f"{REF}:amount_mean_7d").status_code == code
