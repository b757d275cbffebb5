"""Property test: the engine agrees with a deliberately naive pure-Python oracle.

Times sit on a coarse grid of minutes so that exact ties, rows at exactly ``t - ttl`` and
rows created after ``t`` happen often. Created times are unique per view (grid minute
plus a per-row microsecond), so the expected answer is always unambiguous.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.offline.base import (
    FeatureColumn,
    JoinKey,
    OfflineEngine,
    SourceSpec,
    ViewReadSpec,
)
from parity.types import Float64, Int64, String

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Row:
    keys: tuple[object, ...]
    event: datetime
    created: datetime
    values: tuple[object, ...]


def minute(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


def oracle(
    entity_rows: list[tuple[tuple[object, ...], datetime]],
    rows: list[Row],
    ttl: timedelta | None,
    mode: str,
    width: int,
) -> list[tuple[object, ...]]:
    """For each entity row, scan every feature row: a loop, on purpose."""
    out = []
    for keys, t in entity_rows:
        best = None
        for row in rows:
            if row.keys != keys or row.event > t:
                continue
            if mode == "available" and row.created > t:
                continue
            if best is None or (row.event, row.created) > (best.event, best.created):
                best = row
        if best is None or (ttl is not None and best.event < t - ttl):
            out.append((None,) * width)
        else:
            out.append(best.values)
    return out


user_rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # user_id (entity rows also use 3: a key with no rows)
        st.integers(0, 8),  # event minute
        st.integers(0, 4),  # created minute after the event
        st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)),
        st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
    ),
    max_size=25,
)
merchant_rows = st.lists(
    st.tuples(
        st.integers(0, 1),  # merchant_id
        st.sampled_from(["DE", "FR"]),  # country
        st.integers(0, 8),
        st.integers(0, 4),
        st.one_of(st.none(), st.integers(-100, 100)),
    ),
    max_size=25,
)
entity_rows = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 2),
        st.sampled_from(["DE", "FR", "IT"]),
        st.integers(-1, 14),
    ),
    min_size=1,
    max_size=20,
)
ttls = st.one_of(st.none(), st.integers(1, 4).map(lambda m: timedelta(minutes=m)))


def _user_table(rows: list[Row]) -> pa.Table:
    return pa.table(
        {
            "uid": pa.array([r.keys[0] for r in rows], pa.int64()),
            "ts": pa.array([r.event for r in rows], UTC_TS),
            "created": pa.array([r.created for r in rows], UTC_TS),
            "amount": pa.array([r.values[0] for r in rows], pa.float64()),
            "tier": pa.array([r.values[1] for r in rows], pa.string()),
        }
    )


def _merchant_table(rows: list[Row]) -> pa.Table:
    return pa.table(
        {
            "merchant_id": pa.array([r.keys[0] for r in rows], pa.int64()),
            "country": pa.array([r.keys[1] for r in rows], pa.string()),
            "event_ts": pa.array([r.event for r in rows], UTC_TS),
            "written_at": pa.array([r.created for r in rows], UTC_TS),
            "score": pa.array([r.values[0] for r in rows], pa.int64()),
        }
    )


# Examples per engine: a Spark example runs a few Spark jobs (about 1.5 s on local[2]), so
# Spark checks fewer to keep its share of CI small; DuckDB keeps the full count.
EXAMPLES = {"DuckDBOfflineEngine": 120, "SparkOfflineEngine": 15}


def test_engine_matches_naive_oracle(engine: OfflineEngine) -> None:
    check = settings(
        max_examples=EXAMPLES[type(engine).__name__],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )(given(**ORACLE_CASES)(engine_matches_naive_oracle))
    check(engine=engine)


ORACLE_CASES = dict(
    users=user_rows,
    merchants=merchant_rows,
    entity=entity_rows,
    user_ttl=ttls,
    merchant_ttl=ttls,
    mode=st.sampled_from(["event", "available"]),
)


def engine_matches_naive_oracle(
    engine: OfflineEngine,
    users: list[tuple[int, int, int, float | None, str | None]],
    merchants: list[tuple[int, str, int, int, int | None]],
    entity: list[tuple[int, int, str, int]],
    user_ttl: timedelta | None,
    merchant_ttl: timedelta | None,
    mode: str,
) -> None:
    user_data = [
        Row((u,), minute(e), minute(e + c) + timedelta(microseconds=i), (amount, tier))
        for i, (u, e, c, amount, tier) in enumerate(users)
    ]
    merchant_data = [
        Row((m, country), minute(e), minute(e + c) + timedelta(microseconds=i), (score,))
        for i, (m, country, e, c, score) in enumerate(merchants)
    ]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pq.write_table(_user_table(user_data), root / "users.parquet")
        (root / "merchants").mkdir()
        write_deltalake(str(root / "merchants"), _merchant_table(merchant_data))
        users_spec = ViewReadSpec(
            name="users",
            version=1,
            source=SourceSpec(
                format="parquet",
                path=str(root / "users.parquet"),
                timestamp_field="ts",
                created_timestamp_field="created",
            ),
            join_keys=(JoinKey("user_id", Int64, "uid"),),
            features=(
                FeatureColumn("amount", "amount", Float64),
                FeatureColumn("tier", "user_tier", String),
            ),
            ttl=user_ttl,
        )
        merchants_spec = ViewReadSpec(
            name="merchants",
            version=2,
            source=SourceSpec(
                format="delta",
                path=str(root / "merchants"),
                timestamp_field="event_ts",
                created_timestamp_field="written_at",
            ),
            join_keys=(JoinKey("merchant_id", Int64), JoinKey("country", String)),
            features=(FeatureColumn("score", "score", Int64),),
            ttl=merchant_ttl,
        )
        frame = pa.table(
            {
                "user_id": pa.array([e[0] for e in entity], pa.int64()),
                "merchant_id": pa.array([e[1] for e in entity], pa.int64()),
                "country": pa.array([e[2] for e in entity], pa.string()),
                "event_timestamp": pa.array([minute(e[3]) for e in entity], UTC_TS),
                "n": pa.array(range(len(entity)), pa.int64()),
            }
        )
        result = engine.get_historical_features(
            frame,
            [users_spec, merchants_spec],
            point_in_time=mode,  # type: ignore[arg-type]
        ).to_arrow()

    times = [minute(e[3]) for e in entity]
    want_users = oracle(
        [((e[0],), t) for e, t in zip(entity, times, strict=True)], user_data, user_ttl, mode, 2
    )
    want_merchants = oracle(
        [((e[1], e[2]), t) for e, t in zip(entity, times, strict=True)],
        merchant_data,
        merchant_ttl,
        mode,
        1,
    )
    assert result.column_names == [*frame.column_names, "amount", "user_tier", "score"]
    assert result.select(frame.column_names).equals(frame)
    got = list(
        zip(
            result.column("amount").to_pylist(),
            result.column("user_tier").to_pylist(),
            result.column("score").to_pylist(),
            strict=True,
        )
    )
    want = [(*u, *m) for u, m in zip(want_users, want_merchants, strict=True)]
    assert got == want
