"""Every offline engine test runs against each engine (DuckDB and Spark).

A new engine adds one branch to ``engine`` below and must pass the whole suite. The
Spark cases share one session (``spark_session`` in ``tests/conformance/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parity.offline.base import OfflineEngine
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine


@pytest.fixture(params=["duckdb", "spark"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OfflineEngine]:
    if request.param == "duckdb":
        opened = DuckDBOfflineEngine(
            DuckDBOfflineConfig(path="offline", temp_directory="tmp", batch_rows=1000),
            repo_root=tmp_path,
        )
        try:
            yield opened
        finally:
            opened.close()
        return
    if request.param == "spark":
        from parity.offline.spark import SparkOfflineConfig, SparkOfflineEngine

        session = request.getfixturevalue("spark_session")
        spark = SparkOfflineEngine(
            SparkOfflineConfig(path="offline", batch_rows=1000), repo_root=tmp_path, session=session
        )
        try:
            yield spark
        finally:
            spark.close()
        return
    raise AssertionError(f"no fixture for engine {request.param!r}")
