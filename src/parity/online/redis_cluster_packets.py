"""Per-master packets of the Redis Cluster online store: what goes on the wire.

Redis refuses a multi-key command whose keys span hash slots, even on one node, so a read
of many entities is many per-slot ``MGET`` s and a write many per-slot script calls. Sent
through redis-py's cluster client they cost several times the server's work (measured in
``benchmarks/redis_cluster.py``: ``mget_nonatomic`` of 300 keys about 2.5x our read,
a ``ClusterPipeline`` 6-9x). :class:`MasterPackets` groups them per master, as redis-py's
slot map names it, and writes one packet per master on a pooled connection of redis-py's
own node clients, to every master before reading any reply, so the masters work
concurrently without a thread per node. Anything but a plain reply (a ``MOVED``/``ASK``,
an error, a dropped connection) is handed back: the store then runs that work through
redis-py's cluster client, which follows redirections and refreshes the slot map.

Example:
    >>> key_slot(b"parity:p:v:v1:{42}") == key_slot(b"parity:p:w:v3:{42}")
    True
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.cluster import ClusterNode, RedisCluster

SLOTS = 16384
# Keys per window of write packets: bounds client and server buffers, and is the unit in
# which packing overlaps the masters' work. 100k-row writes on a loaded 2-core machine,
# three each: 2,048 keys 177-224k rows/s, 4,096 215-248k, 8,192 139-200k, 65,536 141-227k
# (and 97-146k without the overlap).
WINDOW_KEYS = 4096
Chunk = tuple[int, list[bytes], list[bytes]]
"""(slot, keys, values): the keys of one script call, all of one slot."""


def key_slot(key: bytes) -> int:
    """The hash slot of ``key``, by the cluster specification's hash-tag rule.

    Example:
        >>> key_slot(b"parity:p:v:v1:{42}") == key_slot(b"42"), key_slot(b"{}x") == key_slot(b"x")
        (True, False)
    """
    start = key.find(b"{")
    if start > -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return crc_hqx(key[start + 1 : end], 0) & (SLOTS - 1)
    return crc_hqx(key, 0) & (SLOTS - 1)


class MasterPackets:
    """Reads and script runs sent as one packet per master; built once per store.

    ``unreachable``, ``redirect`` and ``errors`` are redis-py's exception classes (passed
    in, so that importing this module never imports ``redis``).

    Example:
        >>> packets = MasterPackets(unreachable=(OSError,), redirect=(), errors=(OSError,))
        >>> packets.get(cluster, keys, slots)  # doctest: +SKIP
        [b'...', None]
    """

    def __init__(
        self,
        *,
        unreachable: tuple[type[Exception], ...],
        redirect: tuple[type[Exception], ...],
        errors: tuple[type[Exception], ...],
    ) -> None:
        self._unreachable = unreachable
        self._redirect = redirect
        self._errors = errors
        try:
            # redis-py's own packer encodes every argument again (they are bytes already):
            # with it, packing took a third of a 100k-row write.
            from hiredis import pack_command

            self._pack_one: Callable[[Any], bytes] | None = pack_command
        except ImportError:  # hiredis is in parity[redis]; plain redis-py still works
            self._pack_one = None

    def get(self, cluster: RedisCluster, keys: list[bytes], slots: list[int]) -> list[Any] | None:
        """Per-master packets of per-slot MGETs on pooled connections, all sent before any
        reply is read; ``None`` when any reply is not a plain answer (the caller then
        falls back to the cluster client).

        The serving path talks to connections directly: redis-py's per-command layers
        cost about as much as decoding one entity.
        """
        slots_cache = cluster.nodes_manager.slots_cache
        first = slots[0]
        if slots.count(first) == len(slots):  # one entity, any number of views
            nodes = slots_cache.get(first)
            if not nodes:
                return None  # uncovered in our map: the cluster client decides and explains
            return self._exchange(cluster, nodes[0], keys)
        # node name -> (node, slot -> positions)
        per_node: dict[str, tuple[ClusterNode, dict[int, list[int]]]] = {}
        for pos, slot in enumerate(slots):
            nodes = slots_cache.get(slot)
            if not nodes:
                return None
            entry = per_node.get(nodes[0].name)
            if entry is None:
                entry = per_node[nodes[0].name] = (nodes[0], {})
            group = entry[1].get(slot)
            if group is None:
                entry[1][slot] = [pos]
            else:
                group.append(pos)
        out: list[Any] = [None] * len(keys)
        sent = []
        try:
            for node, by_slot in per_node.values():
                positions = list(by_slot.values())
                commands = [(b"MGET", *[keys[p] for p in group]) for group in positions]
                pool = cluster.get_redis_connection(node).connection_pool
                conn = pool.get_connection()
                sent.append((pool, conn, positions))
                conn.send_packed_command(self._pack(conn, commands))  # type: ignore[no-untyped-call]
            failed = False
            for _, conn, positions in sent:
                for group in positions:
                    try:
                        reply = conn.read_response()
                    except self._redirect:
                        failed = True  # keep reading: the connection stays in sync
                        continue
                    if len(group) == 1:
                        out[group[0]] = reply[0]
                    else:
                        for p, value in zip(group, reply, strict=True):
                            out[p] = value
            return None if failed else out
        except BaseException:
            for _, conn, _ in sent:
                conn.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            for pool, conn, _ in sent:
                pool.release(conn)

    def _exchange(
        self, cluster: RedisCluster, node: ClusterNode, keys: list[bytes]
    ) -> list[Any] | None:
        """One ``MGET`` of keys of one slot: a one-entity read of any number of views."""
        pool = cluster.get_redis_connection(node).connection_pool
        conn = pool.get_connection()
        try:
            conn.send_command("MGET", *keys)  # type: ignore[no-untyped-call]
            try:
                reply: list[Any] = conn.read_response()
            except self._redirect:
                return None
            return reply
        except BaseException:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            pool.release(conn)

    def _pack(self, conn: Any, commands: list[tuple[bytes, ...]]) -> list[bytes]:
        """The commands as RESP, in the list form ``send_packed_command`` takes."""
        pack_one = self._pack_one
        if pack_one is None:
            packed: list[bytes] = conn.pack_commands(commands)
            return packed
        return [b"".join([pack_one(command) for command in commands])]

    def run_scripts(
        self, cluster: RedisCluster, sha: bytes, chunks: list[Chunk]
    ) -> tuple[int, list[Chunk]]:
        """Run the script ``sha`` on every ``(slot, keys, values)`` chunk; return the keys
        written and the chunks to run again through the cluster client.

        Windows of :data:`WINDOW_KEYS` keys go out as one packet of ``EVALSHA`` s per
        master, written to every master before any reply is read, and the next window is
        packed and sent before the replies of the previous one are read: the masters
        work concurrently with each other and with the packing. One connection per master
        is held for the whole write. Chunks whose reply is not a count (a ``MOVED``/``ASK``
        after resharding, ``NOSCRIPT`` on a freshly promoted replica, a dropped
        connection) are returned, for redis-py's cluster pipeline to run again.
        """
        slots_cache = cluster.nodes_manager.slots_cache
        held: dict[str, tuple[Any, Any]] = {}  # node name -> (pool, connection)
        broken: set[str] = set()
        retry: list[Chunk] = []
        written = 0
        in_flight: list[tuple[str, list[Chunk]]] = []
        completed = False
        try:
            window: list[Chunk] = []
            size = 0
            for position, chunk in enumerate(chunks):
                window.append(chunk)
                size += len(chunk[1])
                if size < WINDOW_KEYS and position < len(chunks) - 1:
                    continue
                sent = self._send(cluster, slots_cache, sha, window, held, broken, retry)
                written += self._read_replies(in_flight, held, broken, retry)
                in_flight, window, size = sent, [], 0
            written += self._read_replies(in_flight, held, broken, retry)
            completed = True
        finally:
            for name, (pool, conn) in held.items():
                if name in broken or not completed:
                    conn.disconnect()  # its replies were not all read
                pool.release(conn)
        return written, retry

    def _send(
        self,
        cluster: RedisCluster,
        slots_cache: Any,
        sha: bytes,
        window: list[Chunk],
        held: dict[str, tuple[Any, Any]],
        broken: set[str],
        retry: list[Chunk],
    ) -> list[tuple[str, list[Chunk]]]:
        """Send one packet per master; return what each was sent, to read later."""
        per_node: dict[str, tuple[ClusterNode, list[Chunk]]] = {}
        for chunk in window:
            nodes = slots_cache.get(chunk[0])
            if not nodes or nodes[0].name in broken:
                retry.append(chunk)  # uncovered in our map, or failed: the client decides
                continue
            entry = per_node.get(nodes[0].name)
            if entry is None:
                entry = per_node[nodes[0].name] = (nodes[0], [])
            entry[1].append(chunk)
        sent = []
        for name, (node, node_chunks) in per_node.items():
            if name not in held:
                pool = cluster.get_redis_connection(node).connection_pool
                held[name] = (pool, pool.get_connection())
            conn = held[name][1]
            commands = [(b"EVALSHA", sha, b"%d" % len(k), *k, *v) for _, k, v in node_chunks]
            try:
                conn.send_packed_command(self._pack(conn, commands))
            except self._unreachable:
                broken.add(name)
                retry += node_chunks
                continue
            sent.append((name, node_chunks))
        return sent

    def _read_replies(
        self,
        sent: list[tuple[str, list[Chunk]]],
        held: dict[str, tuple[Any, Any]],
        broken: set[str],
        retry: list[Chunk],
    ) -> int:
        """Read the replies of one window; failed chunks join ``retry``."""
        written = 0
        for name, node_chunks in sent:
            if name in broken:
                retry += node_chunks
                continue
            conn = held[name][1]
            for position, chunk in enumerate(node_chunks):
                try:
                    written += int(conn.read_response())
                except self._unreachable:
                    broken.add(name)
                    retry += node_chunks[position:]
                    break
                except self._errors:
                    retry.append(chunk)  # an error reply: the connection stays in sync
        return written
