"""``parity stream run`` and ``parity verify-consistency`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.stream import partition_of
from parity.stream.events import encode_event
from parity.stream.redis_streams import RedisStreamsTransport

from .test_redis_streams import events

pytestmark = pytest.mark.redis


def parity(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parity", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_stream_run_then_verify_consistency(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    stream = f"{unique_prefix}_txns"
    items = events(500, seed=31)
    producer = RedisStreamsTransport(redis_url, stream=stream, group="producer", consumer="p")
    by_partition: dict[int, list[bytes]] = {}
    for item in items:
        by_partition.setdefault(partition_of((item["user_id"],), 2), []).append(encode_event(item))
    for partition, payloads in by_partition.items():
        producer.publish(partition, payloads)
    producer.publish(0, [b"poison"])
    producer.close()
    common = ("--url", redis_url, "--coordination-url", redis_url, "--partitions", "2")
    common += ("--lateness", "86400")  # the events are hours apart, in random order
    ran = parity(
        "stream",
        "run",
        "txn_stats",
        "--stream",
        stream,
        *common,
        "--seconds",
        "3",
        "--json",
        cwd=stream_repo,
    )
    assert ran.returncode == 0, ran.stderr
    metrics = json.loads(ran.stdout)
    assert metrics["applied"] == len(items) and metrics["dead_lettered"] == 1
    verified = parity("verify-consistency", "txn_stats", "--json", cwd=stream_repo)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["replay"]["compared"] > 0
    assert report["online"]["compared"] == len({i["user_id"] for i in items})


def test_processor_without_its_appender_and_the_append_offline_sidecar_log_every_event_once(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    from deltalake import DeltaTable

    stream = f"{unique_prefix}_txns"
    items = events(300, seed=32)
    producer = RedisStreamsTransport(redis_url, stream=stream, group="producer", consumer="p")
    for item in items:
        producer.publish(partition_of((item["user_id"],), 2), [encode_event(item)])
    producer.close()
    common = ("--coordination-url", redis_url, "--partitions", "2", "--stream", stream)
    command = [sys.executable, "-m", "parity", "stream", "append-offline", "txn_stats"]
    sidecar = subprocess.Popen(
        [*command, *common, "--seconds", "8", "--json"],
        cwd=stream_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ran = parity(
        "stream",
        "run",
        "txn_stats",
        *common,
        "--url",
        redis_url,
        "--lateness",
        "86400",
        "--offline-appender",
        "none",
        "--seconds",
        "3",
        "--json",
        cwd=stream_repo,
    )
    assert ran.returncode == 0, ran.stderr  # its shutdown waited for the sidecar
    assert json.loads(ran.stdout)["offline_rows_appended"] == len(items)
    out, err = sidecar.communicate(timeout=60)
    assert sidecar.returncode == 0, err
    assert json.loads(out)["rows_appended"] == len(items)
    rows = DeltaTable(str(stream_repo / "data" / "txns")).to_pyarrow_table()
    assert rows.num_rows == len(items)
