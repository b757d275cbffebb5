"""kill -9 during materialization, then rerun: the stores converge, nothing is promoted early."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import parity as p
from parity.online.base import ReadRequest, ViewTable

USERS = 60_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FEATURES = """
from datetime import timedelta
from parity import Entity, FeatureView, Field, Float64, Int64, ParquetSource

user = Entity("user", join_keys=[Field("user_id", Int64)])
spend = FeatureView(
    "spend",
    entities=[user],
    schema=[Field("spend", Float64, min_value=0)],
    source=ParquetSource(
        "data/spend.parquet", timestamp_field="ts", created_timestamp_field="created"
    ),
)
"""


def make_repo(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "features.py").write_text(FEATURES)
    # Small chunks make the publish step long enough to be killed in the middle of it.
    (root / "parity.yaml").write_text(
        "project: crash\nauto_promote: true\nsync: {chunk_rows: 100}\n"
        "online_store: {type: sqlite, path: data/online.db}\n"
    )
    rng = np.random.default_rng(7)
    n = USERS * 3
    t0_us = int(T0.timestamp() * 1_000_000)
    micros = t0_us + rng.integers(0, 30 * 86400, n) * 1_000_000
    ts = pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(np.tile(np.arange(USERS), 3), pa.int64()),
                "spend": pa.array(rng.uniform(0, 100, n).round(2), pa.float64()),
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "created": pa.array(ts, pa.timestamp("us", tz="UTC")),
            }
        ),
        root / "data" / "spend.parquet",
    )
    store = p.FeatureStore(root)
    store.apply(message="crash test")
    store.close()
    return root


def materialize_cmd(root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "parity",
        "--repo",
        str(root),
        "materialize",
        "2025-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
        "--json",
    ]


def online_values(root: Path) -> list[object]:
    with p.FeatureStore(root) as store:
        view = store.get_feature_view("spend@v1")
        table = ViewTable.from_view(view, project="crash", version=1)
        [rows] = store.online_store.read([ReadRequest(table, [(u,) for u in range(USERS)])])
        return [None if r is None else (r.values, r.event_timestamp) for r in rows]


def test_kill_9_mid_materialization_then_rerun_converges(tmp_path: Path) -> None:
    killed = make_repo(tmp_path / "killed")
    reference = make_repo(tmp_path / "reference")
    subprocess.run(materialize_cmd(reference), check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(
        materialize_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    store = p.FeatureStore(killed)
    deadline = time.monotonic() + 120
    try:
        # Wait until the run is publishing (online values exist), then kill it mid-way.
        while time.monotonic() < deadline:
            records = store.registry.sync_records("crash", "spend", 1)
            if records and "reduce_to_latest" in records[0].details.get("steps", []):
                break
            time.sleep(0.05)
        time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        partial = sum(v is not None for v in online_values(killed))
        assert 0 < partial < USERS, (
            f"kill landed outside the publish step ({partial} values online)"
        )
        [record] = store.registry.sync_records("crash", "spend", 1)
        assert record.outcome == "running"
        # Partial data must never be promoted.
        assert store.get_version("spend@v1").state.value == "pending"
    finally:
        store.close()
        if proc.poll() is None:
            proc.kill()

    rerun = subprocess.run(
        materialize_cmd(killed), check=True, capture_output=True, timeout=300, text=True
    )
    assert '"outcome": "succeeded"' in rerun.stdout
    assert online_values(killed) == online_values(reference)
    with p.FeatureStore(killed) as store:
        outcomes = [r.outcome for r in store.registry.sync_records("crash", "spend", 1)]
        assert outcomes == ["succeeded", "interrupted"]
        assert store.get_version("spend@v1").state.value == "serving"
