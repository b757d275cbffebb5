"""Registry configuration: a SQLite file (default) or a PostgreSQL database."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SqliteRegistryConfig(BaseModel):
    """``registry: {type: sqlite, path: data/registry.db}``; a relative path is under the repo."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sqlite"] = "sqlite"
    path: str = "data/registry.db"


class PostgresRegistryConfig(BaseModel):
    """``registry: {type: postgresql, url: postgresql://host:5432/db, schema: parity}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["postgresql"] = "postgresql"
    url: str
    db_schema: str | None = Field(default=None, alias="schema")
    connect_timeout_s: float = 5.0
