"""DuckDB offline engine: the embedded default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class DuckDBOfflineConfig(BaseModel):
    """``offline_store: {type: duckdb, path: data/offline}``; parity-managed Delta tables live under ``path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["duckdb"] = "duckdb"
    path: str = "data/offline"
    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None
