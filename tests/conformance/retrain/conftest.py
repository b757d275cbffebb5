"""Every retrain-table test runs against SQLite and the real PostgreSQL server.

The retrain ledger, locks and built-in model registry live in the registry database, so
they run on both registry backends: a fresh PostgreSQL schema per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
from parity.retrain.database import open_engine

RegistryConfig = SqliteRegistryConfig | PostgresRegistryConfig


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_config(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryConfig:
    if request.param == "sqlite":
        return SqliteRegistryConfig(path=str(tmp_path / "registry.db"))
    url, schema = request.getfixturevalue("postgres_schema")
    return PostgresRegistryConfig(url=url, db_schema=schema)


@pytest.fixture
def engine(registry_config: RegistryConfig, tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(registry_config, repo_root=tmp_path)
    yield engine
    engine.dispose()
