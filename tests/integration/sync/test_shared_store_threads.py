"""One FeatureStore shared by threads: materializations and training reads run side by side."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from parity.offline.base import ViewReadSpec
from parity.scaffold import init_repo
from parity.store import FeatureStore
from parity.sync.report import SyncOutcome

VIEW = "user_transaction_stats"


def _in_two_threads(work: Callable[[], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=60)

    def run() -> None:
        try:
            start.wait()
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    return errors


def test_two_threads_read_point_in_time_through_one_engine(tmp_path: Path) -> None:
    # Fails on main: DuckDB "Catalog write-write conflict" on the shared source view
    # '__parity_src_0' that every query of the engine replaced.
    root = init_repo(tmp_path / "r", project="threads", rows=2000)
    with FeatureStore(root) as store:
        store.apply(message="t")
        view = store.get_feature_view(f"{VIEW}@v1")
        spec = ViewReadSpec.from_view(view, version=1, repo_root=root)
        source = pq.read_table(root / "data/user_transaction_stats.parquet")
        entities = pa.table(
            {
                "user_id": source.column("user_id").slice(0, 50),
                "event_timestamp": source.column("event_timestamp").slice(0, 50),
            }
        )
        expected = store.offline_engine.get_historical_features(entities, [spec]).to_arrow()
        results: list[pa.Table] = []

        def read() -> None:
            for _ in range(40):
                job = store.offline_engine.get_historical_features(entities, [spec])
                results.append(job.to_arrow())

        errors = _in_two_threads(read)
    assert errors == []
    assert len(results) == 80
    assert all(r.equals(expected) for r in results)


def test_two_threads_materialize_through_one_store(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "r", project="threads", rows=2000)
    now = datetime.now(UTC)
    outcomes: list[SyncOutcome] = []
    with FeatureStore(root) as store:
        store.apply(message="t")

        def materialize() -> None:
            for _ in range(2):
                reports = store.materialize(now - timedelta(days=400), now)
                outcomes.extend(r.outcome for r in reports)

        errors = _in_two_threads(materialize)
        views = len(store.materialize(now - timedelta(days=400), now))
    assert errors == []
    assert outcomes == [SyncOutcome.SUCCEEDED] * (2 * 2 * views)
