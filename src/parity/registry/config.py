"""Registry configuration: a SQLite file (default) or a PostgreSQL database."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class SqliteRegistryConfig(BaseModel):
    """``registry: {type: sqlite, path: data/registry.db}``; a relative path is under the repo."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sqlite"] = "sqlite"
    path: str = "data/registry.db"
    # How long a statement waits for a lock another process holds (SQLite busy timeout).
    query_timeout_s: Annotated[float, Field(gt=0)] = 5.0


class PostgresRegistryConfig(BaseModel):
    """``registry: {type: postgresql, url: postgresql://host:5432/db, schema: parity}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["postgresql"] = "postgresql"
    url: str
    db_schema: str | None = Field(default=None, alias="schema")
    connect_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    # statement_timeout of the reads that serving depends on (snapshots): a locked table
    # costs a server's background refresh this long, never a request.
    query_timeout_s: Annotated[float, Field(gt=0)] = 2.0
    # statement_timeout of every other statement (apply, promote, sync records).
    write_timeout_s: Annotated[float, Field(gt=0)] = 30.0
