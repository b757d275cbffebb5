"""Faults on the offline path, as an operator meets them through the CLI: a corrupt Parquet
source, a Delta commit file missing, a full disk under the offline store.

For each: ``parity materialize`` exits 1 with one error naming the view version, the run,
the step and the fix (no traceback); the run is recorded ``failed`` with its watermark
unmoved; a ``sync_failed`` alert reaches the alert route (a command writing to a file).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import parity as p

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])


def _repo(
    root: Path, source: p.ParquetSource | p.DeltaSource, *, min_spend: float | None = None
) -> Path:
    sink = root / "alerts" / "delivered.jsonl"
    sink.parent.mkdir(parents=True)
    code = f"import sys; open({str(sink)!r}, 'a').write(sys.stdin.read() + '\\n')"
    config = {
        "project": "faults",
        "monitoring": {
            "alerts": {"routes": [{"type": "command", "argv": [sys.executable, "-c", code]}]}
        },
    }
    (root / "parity.yaml").write_text(json.dumps(config))
    view = p.FeatureView(
        "spend",
        entities=[USER],
        schema=[p.Field("spend", p.Float64, min_value=min_spend)],
        source=source,
        ttl=timedelta(days=30),
    )
    (root / "features.py").write_text(
        "from datetime import timedelta\n"
        "import parity as p\n"
        "user = p.Entity('user', join_keys=[p.Field('user_id', p.Int64)])\n"
        f"spend = p.FeatureView('spend', entities=[user], schema=[p.Field('spend', p.Float64, "
        f"min_value={min_spend!r})], source=p.{type(source).__name__}({source.path!r}, "
        "timestamp_field='ts'), ttl=timedelta(days=30))\n"
    )
    assert view.name == "spend"
    return root


def _rows(n: int, *, spend: float = 1.0) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array(range(n), pa.int64()),
            "spend": pa.array([spend] * n, pa.float64()),
            "ts": pa.array([T0] * n, TS),
        }
    )


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _materialize(root: Path) -> subprocess.CompletedProcess[str]:
    assert _cli(root, "apply", "-m", "faults").returncode == 0
    return _cli(root, "materialize", "2026-04-01", "2026-06-01")


def _assert_failed_run_alerted(
    root: Path, result: subprocess.CompletedProcess[str], step: str
) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "error: spend@v1: sync run " in message
    assert f"failed in step '{step}'" in message
    assert "The run is recorded failed and the watermark did not move" in message
    with p.FeatureStore(root) as store:
        [record] = store.registry.sync_records(store.project, "spend", 1, limit=10)
    assert record.outcome == "failed"
    assert record.watermark is None
    delivered = [
        json.loads(line)
        for line in (root / "alerts" / "delivered.jsonl").read_text().splitlines()
        if line.strip()
    ]
    assert [(a["rule"], a["subject"], a["severity"]) for a in delivered] == [
        ("sync_failed", "spend@v1", "critical")
    ]
    assert delivered[0]["evidence"]["run_id"] == record.run_id


def test_a_corrupt_parquet_source_is_a_clear_failure_with_an_alert(tmp_path: Path) -> None:
    # Fails on main: a traceback (ArrowInvalid) and no alert.
    import pyarrow.parquet as pq

    root = _repo(tmp_path, p.ParquetSource("data/spend.parquet", timestamp_field="ts"))
    path = root / "data" / "spend.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(_rows(50), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a writer died halfway
    _assert_failed_run_alerted(root, _materialize(root), "read_source")


def test_a_missing_delta_commit_is_a_clear_failure_with_an_alert(tmp_path: Path) -> None:
    # Fails on main: a traceback (DeltaError) and no alert.
    from deltalake import write_deltalake

    root = _repo(tmp_path, p.DeltaSource("data/spend", timestamp_field="ts"))
    table = str(root / "data" / "spend")
    write_deltalake(table, _rows(50))
    write_deltalake(table, _rows(50, spend=2.0), mode="append")
    os.remove(sorted(glob.glob(f"{table}/_delta_log/*.json"))[0])  # the first commit is lost
    _assert_failed_run_alerted(root, _materialize(root), "read_source")


@pytest.fixture
def full_offline_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs where the offline store writes (quarantine, monitoring), filled up."""
    mount = tmp_path / "data" / "offline"
    mount.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("disk full needs a tmpfs mount: run as root (CI runs as root)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        with open(mount / "filler", "wb") as filler:
            try:
                for _ in range(64):  # bounded: 64 x 64 KiB > 1 MiB
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        yield tmp_path
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)


def test_a_full_offline_disk_fails_the_run_clearly_and_alerts(full_offline_disk: Path) -> None:
    import pyarrow.parquet as pq

    root = _repo(
        full_offline_disk,
        p.ParquetSource("data/spend.parquet", timestamp_field="ts"),
        min_spend=0.0,
    )
    rows = _rows(50)
    rows = rows.set_column(1, "spend", pa.array([-1.0] * 5 + [1.0] * 45, pa.float64()))
    pq.write_table(rows, root / "data" / "spend.parquet")
    # Five rows break the contract: their quarantine write meets the full disk.
    result = _materialize(root)
    _assert_failed_run_alerted(root, result, "quarantine_rejects")
    assert "No space left on device" in " ".join(result.stderr.split()) or "ENOSPC" in result.stderr
