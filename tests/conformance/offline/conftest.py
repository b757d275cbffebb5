"""Every offline engine test runs against each engine (DuckDB today; Spark later).

A new engine adds one branch to ``engine`` below and must pass the whole suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parity.offline.base import OfflineEngine
from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine


@pytest.fixture(params=["duckdb"])
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
    raise AssertionError(f"no fixture for engine {request.param!r}")
