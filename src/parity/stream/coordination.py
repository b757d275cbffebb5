"""Partition leases and checkpoints, kept in Redis, shared by a consumer group.

Leases: a process owns a partition while it renews ``lease:{partition}`` (a compare-and-
set in Lua, so only the owner renews or releases it). Every live member heartbeats into
a sorted set; each takes at most ``ceil(partitions / members)`` partitions, so starting a
second process moves half of the partitions to it, and a killed process's leases expire
and are taken over.

Checkpoints: per partition, a hash of entity key -> entity window (JSON) and a meta
record (sequence, watermark). One ``MULTI/EXEC`` writes the changed entities, the meta
and the checkpoint's raw events (an entry of the partition's spool stream, drained into
the offline store by :mod:`parity.stream.offline_appender`) together, so a checkpoint
is all or nothing.

Example:
    >>> coordinator = RedisCoordinator("redis://127.0.0.1:6379/0",  # doctest: +SKIP
    ...                                prefix="parity:stream:fraud:txns:v1:g1")
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
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
# The lease of the group's one working offline appender (beside the partitions' leases).
APPENDER_LEASE = "appender"


@dataclass
class Checkpoint:
    """What a partition's checkpoint holds: ``sequence`` grows by one per checkpoint (the
    spool entries carry it); ``watermark`` is the greatest event time seen."""

    sequence: int = 0
    watermark: int = -(2**63)
    entities: dict[bytes, bytes] = field(default_factory=dict)


def _meta(checkpoint: Checkpoint) -> bytes:
    return orjson.dumps({"sequence": checkpoint.sequence, "watermark": checkpoint.watermark})


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

    def heartbeat_and_renew(self, member: str, partitions: Sequence[int]) -> tuple[int, list[int]]:
        """:meth:`heartbeat` and :meth:`renew` of ``partitions`` in one round trip: how many
        members are alive, and which of the partitions' leases were lost."""
        now = int(time.time() * 1000)
        key = self._key("members")
        pipe = self._client.pipeline(transaction=False)
        pipe.zadd(key, {member: now + self.lease_ms})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        for partition in partitions:
            lease = self._key("lease", partition)
            self._renew(keys=[lease], args=[member, self.lease_ms], client=pipe)
        replies = pipe.execute()
        lost = [p for p, renewed in zip(partitions, replies[3:], strict=True) if not renewed]
        return int(replies[2]), lost

    def leave(self, member: str) -> None:
        """Remove ``member`` from the group (a clean shutdown)."""
        self._client.zrem(self._key("members"), member)

    def try_lease(self, partition: int | str, member: str) -> bool:
        """Take ``partition`` if nobody holds it."""
        return bool(
            self._client.set(self._key("lease", partition), member, nx=True, px=self.lease_ms)
        )

    def renew(self, partition: int | str, member: str) -> bool:
        """Extend ``member``'s lease; False if it was lost (expired and taken)."""
        return bool(self._renew(keys=[self._key("lease", partition)], args=[member, self.lease_ms]))

    def release(self, partition: int | str, member: str) -> None:
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
        return Checkpoint(sequence=data["sequence"], watermark=data["watermark"], entities=entities)

    def save(
        self,
        partition: int,
        checkpoint: Checkpoint,
        *,
        upserts: dict[bytes, bytes],
        removed: Iterable[bytes],
        spool: dict[str, bytes] | None = None,
    ) -> None:
        """Write changed entities, the meta record and the spool entry atomically.

        ``spool``: the fields of the checkpoint's spool entry (raw events, rejected
        messages); the entry gets the checkpoint's sequence.
        """
        state = self._key("state", partition)
        pipe = self._client.pipeline(transaction=True)
        if upserts:
            pipe.hset(state, mapping=upserts)  # type: ignore[arg-type]
        gone = list(removed)
        if gone:
            pipe.hdel(state, *gone)
        pipe.set(self._key("meta", partition), _meta(checkpoint))
        if spool:
            fields: dict[str, bytes] = {"seq": str(checkpoint.sequence).encode(), **spool}
            pipe.xadd(self._key("spool", partition), fields)  # type: ignore[arg-type]
        pipe.execute()

    # --- spools (raw events on their way to the offline store) -------------------------

    def read_spools(
        self, partitions: int, *, count: int
    ) -> list[tuple[int, bytes, int, dict[bytes, bytes]]]:
        """Pending spool entries of every partition, oldest first per partition:
        ``(partition, entry id, sequence, fields)``."""
        reply: Any = self._client.xread(
            {self._key("spool", p): "0-0" for p in range(partitions)}, count=count
        )
        out: list[tuple[int, bytes, int, dict[bytes, bytes]]] = []
        for stream, entries in reply or ():
            name = stream.decode() if isinstance(stream, bytes) else stream
            partition = int(name.rsplit(":", 1)[1])
            for entry_id, fields in entries:
                out.append((partition, entry_id, int(fields[b"seq"]), fields))
        return out

    def confirm_spools(
        self, entries: Sequence[tuple[int, bytes]], appended: dict[int, int]
    ) -> None:
        """Delete spool entries the offline store holds; publish each partition's last
        appended sequence (``appended``) in ``offline_done``."""
        pipe = self._client.pipeline(transaction=True)
        by_partition: dict[int, list[bytes]] = {}
        for partition, entry_id in entries:
            by_partition.setdefault(partition, []).append(entry_id)
        for partition, ids in by_partition.items():
            pipe.xdel(self._key("spool", partition), *ids)
        if appended:
            pipe.hset(self._key("offline_done"), mapping=appended)  # type: ignore[arg-type]
        pipe.execute()

    def offline_done(self) -> dict[int, int]:
        """Per partition, the last checkpoint sequence whose spool entry is appended."""
        raw = self._client.hgetall(self._key("offline_done"))
        return {int(k): int(v) for k, v in raw.items()}

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()
