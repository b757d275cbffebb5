"""Aggregation conformance: every offline engine must match the naive oracle.

A new engine adds one branch to ``engine`` below (as in ``tests/conformance/offline``).
The Spark cases share one session (``spark_session`` in ``tests/conformance/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parity.offline.base import OfflineEngine
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine


@pytest.fixture(scope="module", params=["duckdb", "spark"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OfflineEngine]:
    root: Path = tmp_path_factory.mktemp("engine")
    if request.param == "duckdb":
        opened = DuckDBOfflineEngine(DuckDBOfflineConfig(path="offline"), repo_root=root)
        try:
            yield opened
        finally:
            opened.close()
        return
    if request.param == "spark":
        from parity.offline.spark import SparkOfflineConfig, SparkOfflineEngine

        session = request.getfixturevalue("spark_session")
        spark = SparkOfflineEngine(
            SparkOfflineConfig(path="offline", batch_rows=1000), repo_root=root, session=session
        )
        try:
            yield spark
        finally:
            spark.close()
        return
    raise AssertionError(f"no fixture for engine {request.param!r}")
