"""SQLite online store: the embedded default (one file, no server)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class SqliteOnlineConfig(BaseModel):
    """``online_store: {type: sqlite, path: data/online.db}``; a relative path is under the repo."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sqlite"] = "sqlite"
    path: str = "data/online.db"
