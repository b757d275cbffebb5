"""A stream processor killed with SIGKILL mid-stream loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

import parity as p
from parity.stream import partition_of
from parity.stream.consistency import online_against_offline, read_event_log
from parity.stream.events import encode_event

from .test_redis_streams import events, specs

pytestmark = pytest.mark.redis

RUNNER = """
import sys, time
import parity as p
from parity.stream import StreamSettings
from parity.stream.processor import StreamProcessor

repo, url, stream, member, batch = sys.argv[1:6]
settings = StreamSettings(url=url, coordination_url=url, stream=stream, partitions=2,
    batch_size=int(batch), checkpoint_interval_seconds=0.05, lease_seconds=1.0,
    poll_timeout_ms=5, allowed_lateness_seconds=86400.0 * 30,
    future_tolerance_seconds=86400.0 * 3650)
with p.FeatureStore(repo) as store:
    processor = store.stream_processor("txn_stats", settings=settings, member=member)
    idle_since, deadline = None, time.monotonic() + 60
    # Until every partition is owned and nothing arrived for half a second.
    while time.monotonic() < deadline:
        if processor.step() or processor.metrics.partitions_owned < 2:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 0.5:
            break
    processor.shutdown()
    print("applied", processor.metrics.applied, "duplicates", processor.metrics.duplicates)
"""


def _runner(
    repo: Path, url: str, stream: str, member: str, seconds: float
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(repo), url, stream, member, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_processor_restarts_without_loss_or_double_count(
    stream_repo: Path, redis_url: str, unique_prefix: str
) -> None:
    stream = f"{unique_prefix}_txns"
    items = events(3000, seed=11)
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for item in items:
        pipe.xadd(f"{stream}:{partition_of((item['user_id'],), 2)}", {"e": encode_event(item)})
    pipe.execute()
    first = _runner(stream_repo, redis_url, stream, "first", 10)  # small batches: slow
    group = f"{unique_prefix}_txn_stats_v1"
    meta = f"parity:stream:{stream}:{group}:meta:0"
    deadline = time.monotonic() + 30
    # Kill it once it has checkpointed a few times, mid-stream.
    while True:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        raw = client.get(meta)
        if raw is not None and b'"sequence":2,' in raw:
            break
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()  # reap it and close its pipes
    second = _runner(stream_repo, redis_url, stream, "second", 500)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    client.close()
    applied = int(out.split()[1])
    # The second process applied the rest: the first had checkpointed part of the stream.
    assert 0 < applied < len(items)
    with p.FeatureStore(stream_repo) as store:
        spec, table = specs(store)
        log = read_event_log(spec)
        assert log.num_rows == len(items)  # every event once in the offline store
        keys = sorted({(i["user_id"],) for i in items})
        report = online_against_offline(store.offline_engine, store.online_store, spec, table, keys)
        assert report.compared == len(keys) and report.ok, report.examples
