"""Redis online store for production (a single server)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class RedisOnlineConfig(BaseModel):
    """``online_store: {type: redis, url: redis://127.0.0.1:6379/0, key_prefix: parity}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "parity"
