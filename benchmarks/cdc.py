"""Change data capture benchmark (docs/benchmarks.md, "Change data capture").

A private PostgreSQL (initdb into a temporary directory, wal_level=logical, a free
loopback port; the shared server is never touched) and the local Redis:

1. latency: a writer commits single-row UPDATEs at a steady rate (default 1,000/s) while
   the capture (its own process) publishes them to Redis Streams and a stream processor
   (this process) applies them to an aggregation view in the Redis online store. Per
   change: database commit time (the commit timestamp the capture reads from the WAL) to
   the end of the online write that makes the value visible, and the split: commit ->
   published by the capture (capture), published -> visible online (transport, processor
   and write; Redis stream ids have ms resolution, so that part reads up to 1 ms high).
2. snapshot: the initial snapshot of an N-row table (default 500k) published onto the
   stream, rows/s (the capture alone).

Usage::

    python benchmarks/cdc.py                     # both
    python benchmarks/cdc.py --rate 1000 --seconds 20 --snapshot-rows 500000
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import parity as p
from parity.cdc import CaptureSettings
from parity.stream import StreamSettings
from parity.stream.processor import StreamProcessor

REDIS = os.environ.get("PARITY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_BIN = Path(os.environ.get("PARITY_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
PARTITIONS = 4
ORDER = p.Entity("order", join_keys=[p.Field("order_id", p.Int64)])
SOURCE = p.PostgresCDCSource(
    "orders_cdc",
    table="public.orders",
    batch_source=p.DeltaSource("data/orders", timestamp_field="ts"),
)
VIEW = p.FeatureView(
    "order_stats",
    entities=[ORDER],
    source=SOURCE,
    aggregations=[
        p.Aggregation("amount", "last", timedelta(days=1), name="amount"),
        p.Aggregation("amount", "count", timedelta(hours=1), name="changes_1h"),
    ],
)
CAPTURE = """
import json, signal, sys, threading
import parity as p
from parity.cdc import CaptureSettings
from parity.cdc.postgres import PostgresCapture
source = p.PostgresCDCSource("orders_cdc", table="public.orders",
                             batch_source=p.DeltaSource("data/orders", timestamp_field="ts"))
capture = PostgresCapture(source, project=sys.argv[2],
                          settings=CaptureSettings(**json.loads(sys.argv[1])))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
capture.run(stop=stop)
latencies = sorted(capture.metrics.commit_to_publish_us)
print(json.dumps({"metrics": capture.metrics.to_dict(), "commit_to_publish_us": latencies}))
"""


def _pg_start() -> tuple[str, Path, str]:
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    run_as = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    directory = Path(tempfile.mkdtemp(prefix="parity-bench-pg-"))
    shutil.chown(directory, user)
    data = directory / "data"
    subprocess.run(
        [
            *run_as,
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Durable commits (fsync on, synchronous_commit on): the latency a real database has.
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c wal_level=logical "
        "-c max_replication_slots=4 -c max_wal_senders=4"
    )
    subprocess.run(
        [
            *run_as,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(directory / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", directory, user


def _pg_stop(directory: Path, user: str) -> None:
    run_as = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*run_as, str(PG_BIN / "pg_ctl"), "-D", str(directory / "data"), "-m", "fast", "stop"],
        capture_output=True,
    )
    shutil.rmtree(directory, ignore_errors=True)


def _sql(dsn: str, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000 if ordered else float("nan")


def _timed(processor: StreamProcessor, into: list[int]) -> None:
    """Record, per entity written, online-visible time minus its value's instant (the
    commit time of the change that moved it): wraps the processor's online write."""
    write = processor._publish_online

    def publish_online(now_us: int) -> None:
        moved = [
            part.state.entities[key].as_of
            for part in processor._partitions.values()
            for key in part.state._dirty
            if key in part.state.entities
        ]
        write(now_us)
        visible = time.time_ns() // 1000
        into.extend(visible - t for t in moved)

    processor._publish_online = publish_online  # type: ignore[method-assign]


def latency(rate: int, seconds: float, rows: int = 10_000) -> dict[str, Any]:
    dsn, directory, user = _pg_start()
    prefix = f"bench_cdc_{os.getpid()}"
    root = Path(tempfile.mkdtemp(prefix="parity-bench-cdc-"))
    capture = None
    try:
        _sql(
            dsn,
            "CREATE TABLE orders (order_id bigint PRIMARY KEY, amount double precision)",
            f"INSERT INTO orders SELECT g, 0 FROM generate_series(1, {rows}) g",
        )
        (root / "parity.yaml").write_text(
            f"project: {prefix}\nregistry: {{type: sqlite, path: data/registry.db}}\n"
            f"online_store: {{type: redis, url: '{REDIS}', key_prefix: {prefix}}}\n"
        )
        settings = CaptureSettings(
            dsn=dsn, url=REDIS, coordination_url=REDIS, stream=prefix, partitions=PARTITIONS
        )
        capture = subprocess.Popen(
            [sys.executable, "-c", CAPTURE, json.dumps(settings.model_dump()), prefix],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        with p.FeatureStore(root) as store:
            store.apply([ORDER, VIEW], message="cdc benchmark")
            processor = store.stream_processor(
                "order_stats",
                settings=StreamSettings(
                    url=REDIS,
                    coordination_url=REDIS,
                    stream=prefix,
                    partitions=PARTITIONS,
                    poll_timeout_ms=2,
                    allowed_lateness_seconds=3600.0,
                ),
            )
            commit_to_visible_us: list[int] = []
            _timed(processor, commit_to_visible_us)
            # Snapshot: drain it before the timed run.
            deadline = time.monotonic() + 60
            while processor.metrics.applied < rows and time.monotonic() < deadline:
                processor.step()
            commit_to_visible_us.clear()
            processor.metrics.latencies_us.clear()
            stop = threading.Event()

            def write(lane: int, lanes: int) -> None:
                # Several connections, as an application has: one connection with durable
                # commits (an fsync each) alone tops out near 500 commits/s here.
                import psycopg2

                conn = psycopg2.connect(dsn)
                conn.autocommit = True
                cur = conn.cursor()
                start = time.monotonic()
                n = lane
                while not stop.is_set():
                    pause = start + n / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    cur.execute(
                        "UPDATE orders SET amount = %s WHERE order_id = %s",
                        (float(n), n % rows + 1),
                    )
                    n += lanes
                conn.close()

            writers = [threading.Thread(target=write, args=(lane, 4)) for lane in range(4)]
            load_before = os.getloadavg()
            for writer in writers:
                writer.start()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                processor.step()
            stop.set()
            for writer in writers:
                writer.join()
            drain_until = time.monotonic() + 2
            while time.monotonic() < drain_until:
                processor.step()
            e2e = list(commit_to_visible_us)
            transport = list(processor.metrics.latencies_us)
            applied = processor.metrics.applied - rows
            processor.shutdown()
        capture.send_signal(signal.SIGTERM)
        out, _ = capture.communicate(timeout=60)
        captured = json.loads(out.decode().strip().splitlines()[-1])
        split = captured["commit_to_publish_us"]
        return {
            "rate_per_s": rate,
            "seconds": seconds,
            "changes_applied": applied,
            "commit_to_online_ms": {
                "p50": _pct(e2e, 0.5),
                "p99": _pct(e2e, 0.99),
                "max": _pct(e2e, 1.0),
            },
            "capture_commit_to_publish_ms": {"p50": _pct(split, 0.5), "p99": _pct(split, 0.99)},
            "publish_to_online_ms": {"p50": _pct(transport, 0.5), "p99": _pct(transport, 0.99)},
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        }
    finally:
        if capture is not None and capture.poll() is None:
            capture.kill()
        _pg_stop(directory, user)
        shutil.rmtree(root, ignore_errors=True)
        import redis

        client = redis.Redis.from_url(REDIS)
        for pattern in (f"{prefix}*", f"parity:*{prefix}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
        client.close()


def snapshot(rows: int) -> dict[str, Any]:
    from parity.cdc.postgres import PostgresCapture

    dsn, directory, user = _pg_start()
    prefix = f"bench_cdc_snap_{os.getpid()}"
    try:
        _sql(
            dsn,
            "CREATE TABLE orders (order_id bigint PRIMARY KEY, amount double precision, note text)",
            f"INSERT INTO orders SELECT g, g * 0.5, 'note ' || g FROM generate_series(1, {rows}) g",
        )
        capture = PostgresCapture(
            SOURCE,
            project=prefix,
            settings=CaptureSettings(
                dsn=dsn, url=REDIS, coordination_url=REDIS, stream=prefix, partitions=PARTITIONS
            ),
        )
        load_before = os.getloadavg()
        capture.run(stop=threading.Event(), max_seconds=0.0)
        m = capture.metrics
        return {
            "rows": m.snapshot_rows,
            "seconds": round(m.snapshot_seconds, 2),
            "rows_per_s": round(m.snapshot_rows / m.snapshot_seconds),
            "load_average_before": load_before,
        }
    finally:
        _pg_stop(directory, user)
        import redis

        client = redis.Redis.from_url(REDIS)
        keys = [*client.scan_iter(match=f"{prefix}*"), *client.scan_iter(match="parity:cdc:*")]
        keys = [k for k in keys if prefix.encode() in k]
        if keys:
            client.delete(*keys)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["latency", "snapshot"])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--snapshot-rows", type=int, default=500_000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only in (None, "latency"):
        results["latency"] = latency(args.rate, args.seconds)
    if args.only in (None, "snapshot"):
        results["snapshot"] = snapshot(args.snapshot_rows)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
