"""A small fraud repository, applied, synchronized and promoted, shared by a module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parity.scaffold import init_repo
from parity.scaffold.sample_data import default_end
from parity.store import FeatureStore


@pytest.fixture(scope="module")
def fraud_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    root = init_repo(tmp_path_factory.mktemp("monitor") / "fraud", project="mon", rows=3000)
    store = FeatureStore(root)
    store.apply(message="monitor tests")
    end = datetime.now(UTC)
    for report in store.materialize(end - timedelta(days=400), end):
        store.promote(report.ref, message="validated")
    yield store
    store.close()


@pytest.fixture(scope="module")
def data_end() -> datetime:
    return default_end()


def repo_path(store: FeatureStore) -> Path:
    return store.repo_path
