"""Materializing an aggregation view publishes each entity's aggregates at the sync instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

import parity as p
from parity.definitions import Aggregation
from parity.offline.aggregations import events_spec
from parity.offline.base import ViewReadSpec
from parity.sync.report import SyncOutcome

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = p.FeatureView(
    "txn_stats",
    entities=[USER],
    source=p.DeltaSource("data/txns", timestamp_field="ts"),
    aggregations=[
        Aggregation("amount", "sum", timedelta(hours=1), name="spend_1h"),
        Aggregation("amount", "count", timedelta(days=1), name="txns_1d"),
    ],
    ttl=timedelta(days=2),
)


def test_materialize_publishes_window_values_and_validates(tmp_path: Path) -> None:
    (tmp_path / "parity.yaml").write_text(
        "project: aggs\nauto_promote: true\nregistry: {type: sqlite, path: data/registry.db}\n"
        "online_store: {type: sqlite, path: data/online.db}\n"
    )
    with p.FeatureStore(tmp_path) as store:
        store.apply([USER, VIEW], message="aggregations")
        spec = events_spec(ViewReadSpec.from_view(VIEW, version=1, repo_root=tmp_path))
        events = pa.table(
            {
                "user_id": pa.array([1, 1, 2], pa.int64()),
                "ts": pa.array([T0, T0 + timedelta(minutes=50), T0], TS),
                "amount": [10.0, 5.0, 7.0],
            }
        )
        assert store.offline_engine.append(spec, events).rows_written == 3
        at = T0 + timedelta(minutes=90)
        [report] = store.materialize(T0, at)
        assert report.outcome is SyncOutcome.SUCCEEDED, report
        assert report.validation is not None and report.validation.passed
        assert report.promoted
        vectors = store.get_online_features(
            features=["txn_stats:spend_1h,txns_1d"],
            entity_rows=[{"user_id": 1}, {"user_id": 2}],
            now=at,
        ).to_dict()
        # User 1: only the 00:50 event is inside (00:30, 01:30]; user 2's hour is empty.
        assert vectors["spend_1h"] == [5.0, None]
        assert vectors["txns_1d"] == [2, 1]
