"""A repository configured with ``offline_store: {type: spark}`` trains and syncs like DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

import parity as p
from parity.offline.base import ViewReadSpec
from parity.sync.report import SyncOutcome

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = p.FeatureView(
    "user_stats",
    entities=[USER],
    schema=[p.Field("spend", p.Float64)],
    source=p.DeltaSource("data/user_stats", timestamp_field="ts"),
    ttl=timedelta(days=2),
)


def _repo(root: Path, offline: str) -> Path:
    root.mkdir()
    (root / "parity.yaml").write_text(
        "project: shop\nauto_promote: true\nregistry: {type: sqlite, path: data/registry.db}\n"
        f"offline_store: {offline}\nonline_store: {{type: sqlite, path: data/online.db}}\n"
    )
    return root


def _train_and_sync(root: Path) -> tuple[pa.Table, list[Any], str]:
    with p.FeatureStore(root) as store:
        store.apply([USER, VIEW], message="stats")
        spec = ViewReadSpec.from_view(VIEW, version=1, repo_root=root)
        rows = pa.table(
            {
                "user_id": pa.array([1, 1, 2], pa.int64()),
                "ts": pa.array([T0, T0 + timedelta(hours=1), T0], TS),
                "spend": [1.0, 2.0, 3.0],
            }
        )
        store.offline_engine.append(spec, rows)
        entity = pa.table(
            {
                "user_id": pa.array([2, 1, 1, 3], pa.int64()),
                "event_timestamp": pa.array(
                    [T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=2), T0], TS
                ),
            }
        )
        [report] = store.materialize(T0, T0 + timedelta(hours=3))  # validates and promotes
        frame = store.get_historical_features(entity, features=["user_stats:spend"]).to_arrow()
        online = store.get_online_features(
            features=["user_stats:spend"],
            entity_rows=[{"user_id": 1}, {"user_id": 2}],
            now=T0 + timedelta(hours=3),
        ).to_dict()["spend"]
        return frame, online, str(report.outcome) + f":{report.promoted}"


def test_spark_repository_trains_and_syncs_exactly_like_duckdb(
    tmp_path: Path, spark_session: Any
) -> None:
    duck = _train_and_sync(_repo(tmp_path / "duck", "{type: duckdb, path: data/offline}"))
    spark = _train_and_sync(
        _repo(tmp_path / "spark", '{type: spark, master: "local[2]", path: data/offline}')
    )
    assert duck[0].column("spend").to_pylist() == [3.0, 1.0, 2.0, None]
    assert spark[0].equals(duck[0])
    assert spark[1] == duck[1] == [2.0, 3.0]
    assert spark[2] == duck[2] == f"{SyncOutcome.SUCCEEDED}:True"
    assert spark_session.sparkContext._jsc is not None  # the shared session still runs
