"""Saving a training dataset saves its drift reference profile beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from parity.monitor.profile import PROFILE_FILE, SAMPLE_FILE, load_profile, profile_table
from parity.scaffold import init_repo
from parity.store import FeatureStore


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    root = init_repo(tmp_path_factory.mktemp("ref") / "r", project="refprof", rows=2000)
    store = FeatureStore(root)
    store.apply(message="t")
    yield store
    store.close()


def entities(root: Path) -> pa.Table:
    source = pq.read_table(root / "data/user_transaction_stats.parquet")
    rows = source.select(["user_id", "event_timestamp"])
    label = pc.cast(pc.equal(pc.bit_wise_and(rows.column("user_id"), 1), 0), pa.int8())
    return rows.append_column("is_fraud", label)


def test_saved_dataset_carries_the_profile_of_its_feature_columns(store: FeatureStore) -> None:
    job = store.get_historical_features(
        entities(store.repo_path), features=["user_transaction_stats@v1", "user_profile@v1"]
    )
    saved = job.save("train_with_profile")
    assert (saved.path / PROFILE_FILE).is_file() and (saved.path / SAMPLE_FILE).is_file()
    profile = load_profile(saved.path)
    data = saved.to_arrow()
    # The entity frame's columns (keys, timestamp, label) are not features.
    assert "is_fraud" not in profile.feature_names and "user_id" not in profile.feature_names
    assert {"amount_mean_7d", "age", "country"} <= set(profile.feature_names)
    expected = profile_table(data, dataset=saved.name, features=list(profile.feature_names))
    for name in profile.feature_names:
        got, want = profile.feature(name), expected.feature(name)
        assert (got.kind, got.edges, got.counts, got.null_count) == (
            want.kind, want.edges, want.counts, want.null_count,
        )  # fmt: skip
    assert profile.row_count == data.num_rows


def test_the_wrapped_job_is_the_engine_job_for_everything_else(store: FeatureStore) -> None:
    job = store.get_historical_features(
        entities(store.repo_path), features=["user_transaction_stats@v1:amount_mean_7d"]
    )
    frame = job.to_arrow()
    assert frame.column_names == ["user_id", "event_timestamp", "is_fraud", "amount_mean_7d"]
    assert job.entity_fingerprint().startswith("duckdb-hash:")  # type: ignore[attr-defined]
    assert job.to_parquet(store.repo_path / "out.parquet").is_file()


def test_profile_on_save_can_be_switched_off(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "r", project="noprof", rows=200)
    with (root / "parity.yaml").open("a") as f:
        f.write("monitoring: {drift: {profile_on_save: false}}\n")
    with FeatureStore(root) as store:
        store.apply(message="t")
        job = store.get_historical_features(
            entities(root), features=["user_transaction_stats@v1:amount_mean_7d"]
        )
        saved = job.save("no_profile")
        assert not (saved.path / PROFILE_FILE).exists()
