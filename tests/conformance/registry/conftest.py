"""Every registry test runs against SQLite and the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parity.registry import Registry, open_registry
from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig

RegistryConfig = SqliteRegistryConfig | PostgresRegistryConfig


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_config(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryConfig:
    if request.param == "sqlite":
        return SqliteRegistryConfig(path=str(tmp_path / "registry.db"))
    url, schema = request.getfixturevalue("postgres_schema")
    return PostgresRegistryConfig(url=url, db_schema=schema)


@pytest.fixture
def registry(registry_config: RegistryConfig, tmp_path: Path) -> Iterator[Registry]:
    reg = open_registry(registry_config, repo_root=tmp_path)
    try:
        yield reg
    finally:
        reg.close()
