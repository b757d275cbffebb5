"""Real feature servers for the serve tests: a scaffolded repository, uvicorn in a thread.

``served_repo(backend)`` builds (once per module) the example fraud repository plus a push
source view, applies and promotes everything and seeds known online values. ``LiveServer``
runs the real ASGI app under uvicorn (uvloop + httptools) on a free loopback port and
shuts it down gracefully, as SIGTERM would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from parity import FeatureStore
from parity.config import load_config
from parity.online.base import ViewTable
from parity.scaffold import init_repo
from parity.serve.app import create_app
from parity.serve.config import ServerConfig

PUSH_VIEWS = """
from datetime import timedelta

from features import user
from parity import DeltaSource, FeatureService, FeatureView, Field, Float64, Int64, PushSource

txn_push = PushSource(
    "txn_push", batch_source=DeltaSource("data/txn_events", timestamp_field="event_timestamp")
)
user_live = FeatureView(
    "user_live",
    entities=[user],
    schema=[Field("last_amount", Float64, nullable=False, min_value=0), Field("txn_count", Int64)],
    source=txn_push,
    ttl=timedelta(days=1),
)
live = FeatureService("live", features=[user_live])
"""
REDIS_URL = os.environ.get("PARITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime.now(UTC).replace(microsecond=0)
EVENT = NOW - timedelta(hours=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def push_body(user: int, amount: float) -> dict[str, Any]:
    """A one-row push body for ``txn_push`` with a recent event time."""
    return {
        "push_source_name": "txn_push",
        "rows": [
            {
                "user_id": user,
                "last_amount": amount,
                "event_timestamp": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            }
        ],
    }


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def build_repo(root: Path, *, environ: dict[str, str] | None = None) -> FeatureStore:
    """The example repo + the push view, applied, every view promoted, values seeded."""
    init_repo(root, project="t", rows=200)
    (root / "push_features.py").write_text(PUSH_VIEWS)
    store = FeatureStore(root, config=load_config(root, environ=environ or {}))
    store.apply(message="first")
    for record in store.list_feature_views():
        store.promote(record.ref, message="test", force=True)
    seed(store)
    return store


def _table(store: FeatureStore, name: str) -> ViewTable:
    return ViewTable.from_view(store.get_feature_view(name), project=store.project, version=1)


def seed(store: FeatureStore) -> None:
    ts = pa.array([EVENT, EVENT], pa.timestamp("us", tz="UTC"))
    store.online_store.write(
        _table(store, "user_transaction_stats"),
        pa.table(
            {
                "user_id": [1, 2],
                "txn_count_7d": [4, 9],
                "amount_sum_7d": [40.0, 90.0],
                "amount_mean_7d": [10.0, 10.0],
                "amount_max_7d": [20.0, 30.0],
                "event_timestamp": ts,
            }
        ),
    )
    store.online_store.write(
        _table(store, "user_profile"),
        pa.table(
            {
                "user_id": pa.array([1, 2], pa.int64()),
                "age": pa.array([30, 41], pa.int32()),
                "country": ["DE", None],
                "account_age_days": pa.array([100, 200], pa.int32()),
                "event_timestamp": ts,
            }
        ),
    )
    store.online_store.write(
        _table(store, "merchant_risk"),
        pa.table(
            {
                "merchant_id": [7],
                "category": ["travel"],
                "chargeback_rate": [0.25],
                "risk_score": pa.array([0.5], pa.float32()),
                "event_timestamp": ts.slice(0, 1),
            }
        ),
    )


class LiveServer:
    """uvicorn serving ``app`` in a background thread on a free loopback port."""

    def __init__(self, app: Any, **ssl: Any) -> None:
        import uvicorn

        self.port = free_port()
        scheme = "https" if ssl else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="warning",
            **ssl,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Graceful shutdown (as on SIGTERM): lifespan shutdown flushes the request log."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve(store: FeatureStore, **config: Any) -> LiveServer:
    """A live server over ``store``; the request log is off unless a test configures it
    (each log starts a writer process, and most tests are about something else)."""
    config.setdefault("request_log", {"enabled": False})
    return LiveServer(create_app(store, config=ServerConfig.model_validate(config)))


@dataclass
class Backend:
    name: str
    environ: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each test module runs once on SQLite and once on the real Redis."""
    if request.param == "sqlite":
        yield Backend("sqlite", {})
        return
    import os
    import uuid

    if not _port_open(6379):
        reason = "Redis is not reachable at 127.0.0.1:6379"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
        pytest.skip(reason)

    prefix = f"parity_test_{uuid.uuid4().hex[:12]}"
    yield Backend(
        "redis",
        {
            "PARITY__ONLINE_STORE__TYPE": "redis",
            "PARITY__ONLINE_STORE__URL": REDIS_URL,
            "PARITY__ONLINE_STORE__KEY_PREFIX": prefix,
        },
    )
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def store(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    """The seeded repository on the module's backend."""
    root = tmp_path_factory.mktemp(f"repo_{backend.name}") / "repo"
    built = build_repo(root, environ=backend.environ)
    yield built
    built.close()


class RedisServer:
    """A private ``redis-server`` on its own port, to stop and restart at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on {self.port}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing ever answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze` (harmless otherwise)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)


def server_seconds(url: str, endpoint: str) -> tuple[int, float]:
    """(requests, total seconds) the server itself measured for ``endpoint``.

    Read from the ``parity_request_latency_seconds`` histogram: the time between the
    request reaching the app and its answer, free of the test client's own scheduling
    delays, so timing assertions stay meaningful on a loaded machine.
    """
    from prometheus_client.parser import text_string_to_metric_families

    count, total = 0, 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.labels.get("endpoint") != endpoint:
                continue
            if sample.name == "parity_request_latency_seconds_count":
                count += int(sample.value)
            elif sample.name == "parity_request_latency_seconds_sum":
                total += sample.value
    return count, total


@pytest.fixture
def make_repo(tmp_path: Path) -> Any:
    """Build a fresh seeded repository: ``make_repo(environ=...)``."""
    stores: list[FeatureStore] = []

    def make(environ: dict[str, str] | None = None, name: str = "repo") -> FeatureStore:
        built = build_repo(tmp_path / name, environ=environ)
        stores.append(built)
        return built

    yield make
    for built in stores:
        built.close()


@pytest.fixture
def live_server() -> Any:
    """``live_server(store, **server_config)``: a LiveServer context manager."""
    return serve


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A private redis-server on a free port, stopped at the end."""
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()
