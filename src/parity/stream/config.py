"""Typed settings of a stream processor (``parity stream run`` options).

Example:
    >>> StreamSettings(stream="txns").partitions
    4
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from parity.stream.transports import known_transport


class StreamSettings(BaseModel):
    """Where events come from and how they are applied.

    ``stream``: the Redis stream prefix (partitions are ``{stream}:{p}``) or the NATS
    subject prefix (``{stream}.{p}``). ``coordination_url``: the Redis server holding
    leases and checkpoints (for both transports). ``group``: the consumer group; default
    ``{project}_{view}_v{version}``, so each view version consumes every event once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A kind of parity.stream.transports.STREAM_TRANSPORTS.
    transport: Annotated[str, AfterValidator(known_transport)] = "redis"
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
    # Who appends the raw events to the offline store: "process", a child process of each
    # processor (one of the group works, holding a lease); "none", an external
    # `parity stream append-offline` sidecar.
    offline_appender: Literal["process", "none"] = "process"
    # How long checkpoint() waits for the appender before raising OfflineAppendStalled.
    offline_wait_seconds: Annotated[float, Field(gt=0)] = 60.0
    # run(): how long Redis or the transport may stay unreachable (retried with backoff,
    # state kept in memory) before the processor exits naming the first error.
    dependency_outage_seconds: Annotated[float, Field(gt=0)] = 30.0
    # run(): automatic full garbage collections are off; one runs this often instead.
    full_collection_seconds: Annotated[float, Field(gt=0)] = 600.0

    def group_for(self, project: str, view: str, version: int) -> str:
        """The consumer group: ``group`` or ``{project}_{view}_v{version}``.

        Example:
            >>> StreamSettings(stream="txns").group_for("shop", "txn_stats", 2)
            'shop_txn_stats_v2'
        """
        return self.group or f"{project}_{view}_v{version}"

    def coordination_prefix(self, group: str) -> str:
        """The Redis key prefix of a group's leases, checkpoints and spools.

        Example:
            >>> StreamSettings(stream="txns").coordination_prefix("g1")
            'parity:stream:txns:g1'
        """
        return f"parity:stream:{self.stream}:{group}"
