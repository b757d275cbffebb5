"""A repository on ``type: spark`` with a Redis online store materializes from the
executors (``parity.sync.distributed``) exactly as the DuckDB repository does locally:
online values, quarantined rejects, sync records, watermarks and promotion."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

import parity as p
from parity.offline.base import ViewReadSpec
from parity.registry import ObjectKind, VersionState

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = p.FeatureView(
    "user_stats",
    entities=[USER],
    schema=[p.Field("spend", p.Float64, min_value=0), p.Field("visits", p.Int64)],
    source=p.DeltaSource("data/user_stats", timestamp_field="ts", created_timestamp_field="ct"),
    ttl=timedelta(days=30),
)
ENTITIES = 400


def _rows(seed: int, *, day: int) -> pa.Table:
    """Several rows per entity (ties on event time broken by the created time), plus rows
    the sync must reject: negative spend, and event times far in the future."""
    rng = random.Random(seed)
    ids, ts, ct, spend, visits = [], [], [], [], []
    for user in range(ENTITIES):
        for _ in range(rng.randint(1, 4)):
            event = T0 + timedelta(days=day, hours=rng.randint(0, 5))
            ids.append(user)
            ts.append(event)
            # Equal event times are ordered by the created time; exact (event, created) ties
            # resolve differently per engine (docs/offline.md), so none are generated.
            ct.append(event + timedelta(minutes=rng.randint(0, 2), microseconds=len(ids)))
            spend.append(
                round(rng.uniform(-1, 100), 2) if rng.random() < 0.01 else rng.uniform(0, 9)
            )
            visits.append(rng.randint(0, 50))
    for user in (3, 7):  # a negative spend, and an event time far in the future
        for event, amount in (
            (T0 + timedelta(days=day, hours=2), -5.0),
            (T0 + timedelta(days=400), 1.0),
        ):
            ids.append(user)
            ts.append(event)
            ct.append(T0 + timedelta(days=day, hours=1))
            spend.append(amount)
            visits.append(1)
    return pa.table(
        {
            "user_id": pa.array(ids, pa.int64()),
            "ts": pa.array(ts, TS),
            "ct": pa.array(ct, TS),
            "spend": pa.array(spend, pa.float64()),
            "visits": pa.array(visits, pa.int64()),
        }
    )


@pytest.fixture
def redis_prefixes(redis_url: str) -> Iterator[tuple[str, str, str]]:
    import redis

    prefixes = (
        f"parity_dsync_duck_{random.randrange(1 << 30)}",
        f"parity_dsync_spark_{random.randrange(1 << 30)}",
    )
    yield redis_url, *prefixes
    client = redis.Redis.from_url(redis_url)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
    client.close()


def _repo(root: Path, offline: str, redis_url: str, prefix: str) -> Path:
    root.mkdir()
    (root / "parity.yaml").write_text(
        "project: shop\nauto_promote: true\nregistry: {type: sqlite, path: data/registry.db}\n"
        f"offline_store: {offline}\n"
        f"online_store: {{type: redis, url: '{redis_url}', key_prefix: {prefix}}}\n"
        "sync: {max_reject_ratio: 0.2}\n"
    )
    return root


def _sync(root: Path) -> dict[str, Any]:
    """Two days of rows: a range run over day one, then incremental runs (one with new
    rows of day two, one with nothing new), each checked as it lands."""
    now = T0 + timedelta(days=3)
    with p.FeatureStore(root) as store:
        store.apply([USER, VIEW], message="stats")
        spec = ViewReadSpec.from_view(VIEW, version=1, repo_root=root)
        store.offline_engine.append(spec, _rows(1, day=0))
        [first] = store.materialize(T0, T0 + timedelta(days=1))
        store.offline_engine.append(spec, _rows(2, day=1))
        [second] = store.materialize_incremental(now)
        [third] = store.materialize_incremental(now + timedelta(hours=1))
        online = store.get_online_features(
            features=["user_stats:spend", "user_stats:visits"],
            entity_rows=[{"user_id": u} for u in range(ENTITIES + 2)],
            now=now,
        ).to_dict()
        records = store.registry.sync_records("shop", "user_stats", 1, limit=10)
        state = store.registry.snapshot("shop").get(ObjectKind.FEATURE_VIEW, "user_stats", 1)
        quarantined = DeltaTable(str(store.storage.quarantine_of("user_stats"))).to_pyarrow_table()
    fields = [
        (
            r.outcome,
            r.watermark,
            r.rows_read,
            r.rows_written,
            r.rows_rejected,
            r.details["mode"],
            r.details["window"],
            r.details["rejections"],
            r.details["validation"],
            r.details["promoted"],
            # The same read, under each repository's own root.
            {
                **r.details["table_read"],
                "path": r.details["table_read"]["path"].replace(str(root), ""),
            },
        )
        for r in records
    ]
    return {
        "reports": [
            (r.outcome, r.rows_read, r.rows_written, r.rows_skipped, r.rows_rejected)
            for r in (first, second, third)
        ],
        "online": online,
        "records": fields,
        "publish": [r.details.get("publish") for r in records],
        "state": state.state if state is not None else None,
        "quarantine": sorted(
            zip(
                quarantined.column("operation").to_pylist(),
                quarantined.column("reason").to_pylist(),
                quarantined.column("row").to_pylist(),
                strict=True,
            )
        ),
    }


def test_spark_executors_materialize_exactly_like_the_local_duckdb_path(
    tmp_path: Path, spark_session: Any, redis_prefixes: tuple[str, str, str]
) -> None:
    url, duck_prefix, spark_prefix = redis_prefixes
    duck = _sync(_repo(tmp_path / "duck", "{type: duckdb, path: data/offline}", url, duck_prefix))
    spark = _sync(
        _repo(
            tmp_path / "spark",
            '{type: spark, master: "local[2]", path: data/offline}',
            url,
            spark_prefix,
        )
    )
    assert duck["publish"] == [None, None, None]
    assert spark["publish"] == ["partitions"] * 3
    # Something was published, rejected and skipped, so the comparison below has teeth.
    first, second, third = duck["reports"]
    assert (
        first[2] == ENTITIES
        and first[4] == 2
        and second[4] == 8
        and second[2] > 0
        and third[1] == 0
    )
    assert sum(v is not None for v in duck["online"]["spend"]) == ENTITIES
    assert len(duck["quarantine"]) == first[4] + second[4]
    differing = [
        k for k in ("reports", "online", "records", "state", "quarantine") if spark[k] != duck[k]
    ]
    detail = [
        (i, j, a, b)
        for i, (sr, dr) in enumerate(zip(spark["records"], duck["records"], strict=True))
        for j, (a, b) in enumerate(zip(sr, dr, strict=True))
        if a != b
    ]
    assert not differing, (differing, detail)
    assert spark["state"] == VersionState.SERVING
