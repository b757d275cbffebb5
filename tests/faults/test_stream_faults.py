"""The stream processor against a Redis that goes away: a private redis-server (append-only
file, so a restart keeps streams, leases and checkpoints) holds the Redis transport and the
coordination; the online store stays on the shared server.

A restart of a few seconds is ridden out (retries with backoff, state kept, every event
applied once); an outage past ``dependency_outage_seconds`` ends the run with an error
naming the first failure, not the final checkpoint's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import parity as p
from parity.errors import StreamDependencyDown
from parity.stream import StreamSettings
from parity.stream.processor import StreamProcessor

from ..integration.stream.conftest import stream_repo  # noqa: F401  (the fixture)
from ..integration.stream.test_redis_streams import PARTITIONS, events, publish

pytestmark = pytest.mark.redis


class PrivateRedis:
    """A redis-server of the test's own, on a free loopback port, stoppable and restartable."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: the append-only file is complete
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed: the outage tests start their own"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _settings(url: str, **extra: Any) -> StreamSettings:
    args: dict[str, Any] = {
        "url": url,
        "coordination_url": url,
        "stream": "faults_txns",
        "partitions": PARTITIONS,
        "checkpoint_interval_seconds": 0.1,
        "lease_seconds": 2.0,
        "poll_timeout_ms": 5,
        "allowed_lateness_seconds": 86_400.0 * 30,
        "future_tolerance_seconds": 86_400.0 * 365 * 10,
        "offline_appender": "none",
    }
    args.update(extra)
    return StreamSettings(**args)


def _run_in_thread(
    processor: StreamProcessor, stop: threading.Event
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            processor.run(stop=stop, max_seconds=60)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors  # errors is filled when the thread ends


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_short_redis_restart_is_ridden_out_and_every_event_counts_once(
    stream_repo: Path,  # noqa: F811  (the fixture imported above)
    private_redis: PrivateRedis,
) -> None:
    # Fails on main: the ConnectionError escaped the loop and `parity stream run` exited.
    first, second = events(100, seed=3), events(200, seed=3)[100:]
    with p.FeatureStore(stream_repo) as store:
        settings = _settings(private_redis.url, dependency_outage_seconds=30)
        processor = store.stream_processor("txn_stats", settings=settings)
        publish(processor, first)
        stop = threading.Event()
        thread, errors = _run_in_thread(processor, stop)
        _wait(lambda: processor.metrics.applied == len(first), 30, "first events applied")
        private_redis.stop()
        _wait(lambda: processor.metrics.dependency_retries >= 3, 30, "retries during outage")
        private_redis.start()
        publisher = store.stream_processor("txn_stats", settings=settings)
        publish(publisher, second)
        _wait(lambda: processor.metrics.applied == len(first) + len(second), 60, "all applied")
        stop.set()
        thread.join(timeout=60)
        publisher.shutdown()
    assert errors == []
    assert processor.metrics.applied == 200
    assert processor.metrics.dead_lettered == 0


def test_an_outage_past_the_bound_ends_the_run_naming_the_first_error(
    stream_repo: Path,  # noqa: F811  (the fixture imported above)
    private_redis: PrivateRedis,
) -> None:
    # Fails on main: the run ended at once, and the final checkpoint's error hid the first.
    with p.FeatureStore(stream_repo) as store:
        settings = _settings(private_redis.url, dependency_outage_seconds=1.0)
        processor = store.stream_processor("txn_stats", settings=settings)
        publish(processor, events(20, seed=4))
        stop = threading.Event()
        thread, errors = _run_in_thread(processor, stop)
        _wait(lambda: processor.metrics.applied == 20, 30, "events applied")
        started = time.monotonic()
        private_redis.stop()
        thread.join(timeout=30)
        took = time.monotonic() - started
    [error] = errors
    assert isinstance(error, StreamDependencyDown), repr(error)
    message = str(error)
    assert "more than dependency_outage_seconds = 1" in message
    assert "first error: ConnectionError" in message
    assert 1.0 <= took < 10.0
