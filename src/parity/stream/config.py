"""Typed settings of a stream processor (``parity stream run`` options).

Example:
    >>> StreamSettings(stream="txns").partitions
    4
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamSettings(BaseModel):
    """Where events come from and how they are applied.

    ``stream``: the Redis stream prefix (partitions are ``{stream}:{p}``) or the NATS
    subject prefix (``{stream}.{p}``). ``coordination_url``: the Redis server holding
    leases and checkpoints (for both transports). ``group``: the consumer group; default
    ``{project}_{view}_v{version}``, so each view version consumes every event once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["redis", "nats"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    coordination_url: str = "redis://127.0.0.1:6379/0"
    stream: str
    group: str | None = None
    partitions: Annotated[int, Field(gt=0, le=4096)] = 4
    batch_size: Annotated[int, Field(gt=0)] = 1000
    poll_timeout_ms: Annotated[int, Field(ge=0)] = 20
    allowed_lateness_seconds: Annotated[float, Field(ge=0)] = 60.0
    future_tolerance_seconds: Annotated[float, Field(ge=0)] = 300.0
    checkpoint_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    lease_seconds: Annotated[float, Field(gt=0)] = 5.0
    # JSON field holding a producer's event id (dedups producer retries); else the
    # transport's message id identifies an event.
    id_field: str | None = "event_id"
    # NATS only: how long an unacknowledged message waits before redelivery.
    ack_wait_seconds: Annotated[float, Field(gt=0)] = 30.0
