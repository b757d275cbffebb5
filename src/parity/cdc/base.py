"""What every change data capture shares: settings, errors, the change message, the ledger.

A capture turns committed row changes of one table into stream events in the processor's
message format (:mod:`parity.stream.events`): one JSON object with the row's columns, the
event time under the batch source's timestamp field (ISO 8601, UTC), an event id under
``id_field`` and the operation under ``__op`` (:data:`OP_FIELD`, the column the
processor and the offline SQL read retractions from):

| ``__op`` | meaning | columns |
| --- | --- | --- |
| ``r`` | a row of the initial snapshot | all |
| ``c`` | insert | all |
| ``u`` | update: the new value as of the commit | all |
| ``d`` | delete: retracts the key's value | the key |

The event id is the change's position in the database log (``{lsn}:{n}`` or
``{binlog file}:{pos}:{n}``), so a capture that restarts from its checkpoint and publishes
a change again publishes the same id, and the processor applies it once. A snapshot row's
id is its key and a digest of its values (:func:`snapshot_event_id`): a snapshot retaken
after a crash republishes every unchanged row under the id it had, and a row changed
between the two snapshots under a new one (its new value is a change the stream lost).

The ledger (a Redis hash ``parity:cdc:{slot}`` on the coordination server) records that
parity owns a slot and whether its initial snapshot is complete.

Example:
    >>> encoder = ChangeEncoder(timestamp_field="ts", key_columns=("id",), partitions=4)
    >>> partition, payload = encoder.encode("c", {"id": 7, "amount": 2.5}, "0/16B3748:0",
    ...                                     1767225600000000)
    >>> partition, orjson.loads(payload)["__op"]
    (2, 'c')
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from parity.stream.base import partition_of

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OP_SNAPSHOT, OP_INSERT, OP_UPDATE, OP_DELETE = "r", "c", "u", "d"
# The operation's field in a message (parity.offline.base.RETRACTION_FIELD: the same name).
OP_FIELD = "__op"


def iso_us(time_us: int) -> str:
    """ISO 8601 UTC spelling of UTC microseconds."""
    return (_EPOCH + timedelta(microseconds=time_us)).isoformat()


def snapshot_event_id(key: str, row: Mapping[str, Any]) -> str:
    """The event id of a snapshot row: ``r:{key}:{digest of its values}``, the same in every
    snapshot that reads the row unchanged (so a snapshot retaken after a crash doubles
    nothing: the processor recognises each row it already applied).

    Example:
        >>> snapshot_event_id("7", {"id": 7, "amount": 2.5})
        'r:7:8c731830758d1ccf'
    """
    values = orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)
    return f"r:{key}:{hashlib.blake2b(values, digest_size=8).hexdigest()}"


class ChangeEncoder:
    """Builds the processor's message for one change and picks its partition (hot path:
    resolved once per table).

    Example:
        >>> ChangeEncoder(timestamp_field="ts", key_columns=("id",), partitions=1).encode(
        ...     "d", {"id": 1}, "x", 0)[1]
        b'{"id":1,"ts":"1970-01-01T00:00:00+00:00","event_id":"x","__op":"d"}'
    """

    def __init__(
        self,
        *,
        timestamp_field: str,
        key_columns: tuple[str, ...],
        partitions: int,
        id_field: str = "event_id",
        op_field: str = OP_FIELD,
        timestamp_column: str | None = None,
    ) -> None:
        self.timestamp_field = timestamp_field
        self.key_columns = key_columns
        self.partitions = partitions
        self.id_field = id_field
        self.op_field = op_field
        self.timestamp_column = timestamp_column

    def encode(
        self, op: str, row: dict[str, Any], event_id: str, commit_us: int
    ) -> tuple[int, bytes]:
        """``(partition, payload)`` of a change of ``row`` committed at ``commit_us``."""
        key = [row[name] for name in self.key_columns]
        if self.timestamp_column is not None and row.get(self.timestamp_column) is not None:
            row[self.timestamp_field] = row[self.timestamp_column]
        else:
            row[self.timestamp_field] = iso_us(commit_us)
        row[self.id_field] = event_id
        row[self.op_field] = op
        return partition_of(tuple(key), self.partitions), orjson.dumps(row)


class CaptureLedger:
    """Parity's record of a slot it owns: ``owner`` and the initial snapshot's state.

    Example:
        >>> ledger = CaptureLedger("redis://127.0.0.1:6379/0", "parity_orders")  # doctest: +SKIP
        >>> ledger.owner()  # doctest: +SKIP
        'shop/orders_cdc'
    """

    def __init__(self, url: str, slot: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self.key = f"parity:cdc:{slot}"

    def owner(self) -> str | None:
        """``{project}/{source}`` of the capture that created the slot, if parity did."""
        value: bytes | None = self._client.hget(self.key, "owner")  # type: ignore[assignment]
        return value.decode() if value is not None else None

    def claim(self, owner: str) -> None:
        """Record that ``owner`` creates the slot now; its snapshot is pending."""
        self._client.hset(self.key, mapping={"owner": owner, "snapshot": "pending"})

    def snapshot_done(self) -> bool:
        """Whether the initial snapshot was published completely."""
        return self._client.hget(self.key, "snapshot") == b"done"

    def finish_snapshot(self, rows: int) -> None:
        """Record the snapshot as complete."""
        self._client.hset(self.key, mapping={"snapshot": "done", "snapshot_rows": rows})

    def set_position(self, position: str) -> None:
        """Record a binlog position (MySQL keeps no slot; PostgreSQL's is in the slot)."""
        self._client.hset(self.key, "position", position)

    def position(self) -> str | None:
        """The recorded binlog position, if any."""
        value: bytes | None = self._client.hget(self.key, "position")  # type: ignore[assignment]
        return value.decode() if value is not None else None

    def forget(self) -> None:
        """Drop the record (with the slot)."""
        self._client.delete(self.key)

    def close(self) -> None:
        """Release the connection."""
        self._client.close()
