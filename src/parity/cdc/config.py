"""Typed settings of a change data capture (``cdc.<source>`` in ``parity.yaml``).

A leaf: pydantic only, so ``parity.config`` imports it without the capture's machinery.

Example:
    >>> CaptureSettings(dsn="postgresql://127.0.0.1/shop", stream="orders").partitions
    4
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class CaptureSettings(BaseModel):
    """Where a capture reads, where it publishes, and how.

    ``dsn``: the database (a libpq URL for PostgreSQL; ``mysql://user:pw@host:port/db``
    for MySQL/MariaDB). ``transport``/``url``/``stream``/``partitions``: the stream the
    processors of the fed views consume (the same values as their ``StreamSettings``).
    ``coordination_url``: the Redis server of the ledger. ``key_columns``: the fed views'
    join keys, in their order (default: the table's primary key) — events are routed by
    them, as the processors partition. ``slot``: default ``parity_{project}_{source}``.

    Example:
        >>> CaptureSettings(dsn="postgresql://127.0.0.1/shop", stream="orders").partitions
        4
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn: str
    transport: Literal["redis", "nats"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    coordination_url: str = "redis://127.0.0.1:6379/0"
    stream: str
    partitions: Annotated[int, Field(gt=0, le=4096)] = 4
    key_columns: tuple[str, ...] | None = None
    id_field: str = "event_id"
    slot: str | None = None
    # Changes published in one transport round trip at most.
    batch_size: Annotated[int, Field(gt=0)] = 1000
    # Snapshot rows fetched (and published) per round trip.
    snapshot_batch_rows: Annotated[int, Field(gt=0)] = 10_000
    # How often the capture reports its position to the database when idle, and reads
    # the slot lag.
    status_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    # Slot lag beyond which the capture logs an alert: a stalled capture keeps WAL on the
    # database's disk.
    max_slot_lag_bytes: Annotated[int, Field(gt=0)] = 1 << 30

    def slot_for(self, project: str, source: str) -> str:
        """The slot (and publication) name: ``slot`` or ``parity_{project}_{source}``.

        Example:
            >>> CaptureSettings(dsn="x", stream="s").slot_for("Shop", "orders_cdc")
            'parity_shop_orders_cdc'
        """
        return (self.slot or f"parity_{project}_{source}").lower()[:63]
