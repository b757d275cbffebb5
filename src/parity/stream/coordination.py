"""Partition leases and checkpoints, kept in Redis, shared by a consumer group.

Leases: a process owns a partition while it renews ``lease:{partition}`` (a compare-and-
set in Lua, so only the owner renews or releases it). Every live member heartbeats into
a sorted set; each takes at most ``ceil(partitions / members)`` partitions, so starting a
second process moves half of the partitions to it, and a killed process's leases expire
and are taken over.

Checkpoints: per partition, a hash of entity key -> entity window (JSON) and a meta
record (sequence, watermark, the raw events of the last checkpoint not yet confirmed in
the offline store). One ``MULTI/EXEC`` writes the changed entities and the meta together,
so a checkpoint is all or nothing.

Example:
    >>> coordinator = RedisCoordinator("redis://127.0.0.1:6379/0",  # doctest: +SKIP
    ...                                prefix="parity:stream:fraud:txns:v1:g1")
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass
class Checkpoint:
    """What a partition's checkpoint holds.

    ``offline_rows``: the raw events first applied since the previous checkpoint (column
    lists); ``offline_done``: the last sequence whose rows are in the offline store;
    ``offline_version``: the offline table's version before they were appended (at
    recovery, files added after it tell whether the append happened).
    """

    sequence: int = 0
    watermark: int = -(2**63)
    offline_done: int = 0
    offline_rows: dict[str, list[Any]] | None = None
    offline_version: int | None = None
    entities: dict[bytes, bytes] = field(default_factory=dict)


def _meta(checkpoint: Checkpoint) -> bytes:
    return orjson.dumps(
        {
            "sequence": checkpoint.sequence,
            "watermark": checkpoint.watermark,
            "offline_done": checkpoint.offline_done,
            "offline_rows": checkpoint.offline_rows,
            "offline_version": checkpoint.offline_version,
        }
    )


class RedisCoordinator:
    """Leases, membership and checkpoints of one consumer group (one view version).

    Example:
        >>> RedisCoordinator("redis://127.0.0.1:6379/0", prefix="p").prefix  # doctest: +SKIP
        'p'
    """

    def __init__(self, url: str, *, prefix: str, lease_ms: int = 5_000) -> None:
        import redis

        self.prefix = prefix
        self.lease_ms = lease_ms
        self._client = redis.Redis.from_url(url)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)

    def _key(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

    # --- membership and leases -------------------------------------------------------

    def heartbeat(self, member: str) -> int:
        """Record ``member`` as alive; return how many members are alive."""
        now = int(time.time() * 1000)
        key = self._key("members")
        pipe = self._client.pipeline()
        pipe.zadd(key, {member: now + self.lease_ms})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        return int(pipe.execute()[-1])

    def leave(self, member: str) -> None:
        """Remove ``member`` from the group (a clean shutdown)."""
        self._client.zrem(self._key("members"), member)

    def try_lease(self, partition: int, member: str) -> bool:
        """Take ``partition`` if nobody holds it."""
        return bool(
            self._client.set(self._key("lease", partition), member, nx=True, px=self.lease_ms)
        )

    def renew(self, partition: int, member: str) -> bool:
        """Extend ``member``'s lease; False if it was lost (expired and taken)."""
        return bool(self._renew(keys=[self._key("lease", partition)], args=[member, self.lease_ms]))

    def release(self, partition: int, member: str) -> None:
        """Give ``partition`` up (only if ``member`` holds it)."""
        self._release(keys=[self._key("lease", partition)], args=[member])

    # --- checkpoints -------------------------------------------------------------------

    def load(self, partition: int) -> Checkpoint:
        """The partition's last checkpoint (an empty one if none was written)."""
        pipe = self._client.pipeline()
        pipe.get(self._key("meta", partition))
        pipe.hgetall(self._key("state", partition))
        meta, entities = pipe.execute()
        if meta is None:
            return Checkpoint(entities=entities)
        data = orjson.loads(meta)
        return Checkpoint(
            sequence=data["sequence"],
            watermark=data["watermark"],
            offline_done=data["offline_done"],
            offline_rows=data["offline_rows"],
            offline_version=data.get("offline_version"),
            entities=entities,
        )

    def save(
        self,
        partition: int,
        checkpoint: Checkpoint,
        *,
        upserts: dict[bytes, bytes],
        removed: Iterable[bytes],
    ) -> None:
        """Write changed entities and the meta record atomically."""
        state = self._key("state", partition)
        pipe = self._client.pipeline(transaction=True)
        if upserts:
            pipe.hset(state, mapping=upserts)  # type: ignore[arg-type]
        gone = list(removed)
        if gone:
            pipe.hdel(state, *gone)
        pipe.set(self._key("meta", partition), _meta(checkpoint))
        pipe.execute()

    def mark_offline_done(self, partition: int, checkpoint: Checkpoint) -> None:
        """Record that the checkpoint's raw events are in the offline store."""
        checkpoint.offline_done = checkpoint.sequence
        checkpoint.offline_rows = None
        self._client.set(self._key("meta", partition), _meta(checkpoint))

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()
