"""The DuckDB engine honours memory_limit / temp_directory / threads and still answers right."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from parity.offline.base import FeatureColumn, JoinKey, SourceSpec, ViewReadSpec
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
from parity.types import Float64, Int64, String

ROWS = 400_000
START_US = 1_767_225_600_000_000


def test_small_memory_limit_spills_and_gives_the_same_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ts = pa.timestamp("us", tz="UTC")
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(rng.integers(0, 20_000, ROWS), pa.int64()),
                "ts": pa.array(START_US + rng.integers(0, 10**12, ROWS)).cast(ts),
                "x": rng.normal(size=ROWS),
                "s": pa.array(np.array(["alpha", "beta", "gamma"])[rng.integers(0, 3, ROWS)]),
            }
        ),
        tmp_path / "f.parquet",
    )
    spec = ViewReadSpec(
        name="f",
        version=1,
        source=SourceSpec(format="parquet", path=str(tmp_path / "f.parquet"), timestamp_field="ts"),
        join_keys=(JoinKey("user_id", Int64),),
        features=(FeatureColumn("x", "x", Float64), FeatureColumn("s", "s", String)),
        ttl=timedelta(days=3),
    )
    entity = pa.table(
        {
            "user_id": pa.array(rng.integers(0, 20_000, 100_000), pa.int64()),
            "event_timestamp": pa.array(START_US + rng.integers(0, 10**12, 100_000)).cast(ts),
        }
    )
    roomy = DuckDBOfflineEngine(DuckDBOfflineConfig(), repo_root=tmp_path)
    tight = DuckDBOfflineEngine(
        DuckDBOfflineConfig(
            memory_limit="40MB", temp_directory="spill", threads=1, batch_rows=4096
        ),
        repo_root=tmp_path,
    )
    job = tight.get_historical_features(entity, [spec])
    settings = job._cursor.execute(  # the engine's own settings, read back
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory')"
    ).fetchall()[0]
    assert settings[1] == 1 and settings[2] == str(tmp_path / "spill")
    assert settings[0] in ("38.1 MiB", "40.0 MB", "40.0MB")
    batches = list(job.to_batches())
    assert max(b.num_rows for b in batches) <= 4096
    got = pa.Table.from_batches(batches)
    assert got.equals(roomy.get_historical_features(entity, [spec]).to_arrow())
    assert got.column("x").null_count < got.num_rows
    # DuckDB creates its temp directory only when it spills: the join did not fit in 40MB.
    assert (tmp_path / "spill").is_dir()
