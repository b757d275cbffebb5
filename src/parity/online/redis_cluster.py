"""Redis Cluster online store: the Redis layout spread over the masters of a cluster.

Layout: one Redis string per (view version, entity), as on one server
(:mod:`parity.online.redis_layout`), with the entity key as the *hash tag*:
``{key_prefix}:{project}:{view}:v{version}:{<entity key>}``. All views of one entity
therefore live in one slot on one node, and a one-entity read of any number of views is
one ``MGET`` on one connection. (An entity key whose bytes start with ``}`` or are empty
has no usable tag; its keys spread over slots like untagged keys, which costs round
trips, never correctness.)

Reads: keys are grouped per master and per slot (Redis refuses multi-key commands across
slots, even on one node); each master gets one pipelined packet of per-slot ``MGET`` s
on a pooled connection, all packets are written before any reply is read, so the masters
work concurrently without a thread per node (:mod:`parity.online.redis_cluster_packets`).
The slot map is redis-py's
(``RedisCluster.nodes_manager``). Anything unusual on that fast path (a ``MOVED`` or
``ASK`` after resharding, a dropped connection, a failover) hands the whole read to
redis-py's cluster client, which follows redirections, refreshes the slot map and
retries; the fast path then uses the refreshed map. Measured in
``benchmarks/redis_cluster.py``: the client's own ``mget_nonatomic`` of 100 keys takes
several times longer than the direct packets.

Writes: the newer-wins script of the single-server backend, once per slot chunk (all
keys of a script call share a slot), sent like reads as per-master packets, the next
window packed while the masters run the previous one. Chunks that meet a redirection, a
missing script or a dropped connection run again through redis-py's cluster pipeline,
which routes each call to its current master and follows redirections. (A script per
master over keys of many slots, allowed by Redis 7's ``allow-cross-slot-keys`` flag, was
measured too: no faster for fresh writes, since each key then needs its own GET and SET.)

Availability: a read or write touching a slot whose master is down (before its replica
takes over) or that no master serves fails as a whole with
:class:`~parity.errors.OnlineStorePartlyUnavailable` (HTTP 503), naming the node or slot
and the fix; entities are never answered with silent nulls.

``redis`` is imported when a store is built, never by ``import parity``.

Example:
    >>> config = RedisClusterOnlineConfig(startup_nodes=["127.0.0.1:7000", "127.0.0.1:7001"])
    >>> config.startup_nodes[0]
    '127.0.0.1:7000'
    >>> store = RedisClusterOnlineStore(config)  # doctest: +SKIP
    >>> store.read([ReadRequest(table, keys=[(1,)])])  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import threading
from binascii import crc_hqx
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parity.errors import (
    ConfigError,
    OnlineStorePartlyUnavailable,
    OnlineStoreUnavailable,
    ParityError,
)
from parity.online.base import (
    OnlineCapabilities,
    OnlineRow,
    OnlineStore,
    ReadRequest,
    ScansEntities,
    ValueSwap,
    ViewTable,
    WriteResult,
)
from parity.online.codec import TableCodec
from parity.online.redis_cluster_packets import SLOTS, Chunk, MasterPackets, key_slot
from parity.online.redis_layout import SCAN_STEP, SWAP, WRITE_LATEST, client_name, scan_pattern

if TYPE_CHECKING:
    import pyarrow as pa
    from redis.cluster import RedisCluster

_FIX = (
    "Check the cluster with 'redis-cli --cluster check HOST:PORT' (restart the node, or "
    "'redis-cli --cluster fix HOST:PORT' to assign uncovered slots), and that "
    "online_store.startup_nodes in parity.yaml lists this cluster's nodes"
)


class RedisClusterOnlineConfig(BaseModel):
    """``online_store: {type: redis_cluster, startup_nodes: [10.0.0.1:6379, 10.0.0.2:6379]}``.

    ``startup_nodes``: ``host:port`` of some nodes of the cluster; one that answers is
    enough, the client discovers the rest. ``key_prefix`` may not contain ``{`` or ``}``
    (the entity key is the hash tag).

    Example:
        >>> RedisClusterOnlineConfig(startup_nodes=["127.0.0.1:7000"]).key_prefix
        'parity'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis_cluster"] = "redis_cluster"
    startup_nodes: tuple[str, ...]
    key_prefix: Annotated[str, Field(pattern=r"^[^{}]+$")] = "parity"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    connect_timeout_seconds: Annotated[float, Field(gt=0)] = 1.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_connections: Annotated[int, Field(gt=0)] = 64
    # Keys per script call (all of one slot); Lua's unpack() caps a call near 8,000 arguments.
    write_batch_size: Annotated[int, Field(gt=0, le=2000)] = 1000

    @field_validator("startup_nodes")
    @classmethod
    def _host_port(cls, nodes: tuple[str, ...]) -> tuple[str, ...]:
        if not nodes:
            raise ValueError(
                "lists no node; set online_store.startup_nodes to some nodes of the cluster, "
                "for example [10.0.0.1:6379, 10.0.0.2:6379]"
            )
        for node in nodes:
            host, sep, port = node.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(
                    f"startup node {node!r} is not HOST:PORT; set online_store.startup_nodes "
                    "to some nodes of the cluster, one 'host:port' each, for example "
                    "[10.0.0.1:6379, 10.0.0.2:6379]"
                )
        return nodes


def _tagged(namespace: bytes) -> bytes:
    """The bytes every key of a view version starts with; the entity key follows, then ``}``."""
    return namespace + b"{"


class RedisClusterOnlineStore(OnlineStore, ScansEntities):
    """The online store on a Redis Cluster, through redis-py's ``RedisCluster`` client.

    The client connects on first use (a server can start while the cluster is down and
    answer 503 until it is back).

    Example:
        >>> RedisClusterOnlineStore.capabilities.shared
        True
    """

    capabilities = OnlineCapabilities(shared=True, concurrent_writers=True)

    def __init__(self, config: RedisClusterOnlineConfig, /, *, repo_root: str | Path = ".") -> None:
        # repo_root: accepted like every backend's; Redis keeps no files.
        import redis
        from redis.exceptions import (
            AskError,
            AuthenticationError,
            ClusterDownError,
            MovedError,
            RedisClusterException,
            SlotNotCoveredError,
            TryAgainError,
        )

        self._config = config
        self._nodes_text = ", ".join(config.startup_nodes)
        self._prefix = config.key_prefix.encode() + b":"
        self._batch = config.write_batch_size
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)
        self._unreachable: tuple[type[Exception], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
        )
        self._partial: tuple[type[Exception], ...] = (
            ClusterDownError,
            SlotNotCoveredError,
            TryAgainError,
        )
        self._redirect: tuple[type[Exception], ...] = (MovedError, AskError)
        self._refused: tuple[type[Exception], ...] = (AuthenticationError,)
        self._lock = threading.Lock()
        self._cluster: RedisCluster | None = None
        self._sha = b""
        self._packets = MasterPackets(
            unreachable=self._unreachable, redirect=self._redirect, errors=self._errors
        )
        self._tables: dict[ViewTable, tuple[TableCodec, bytes]] = {}

    # -- connection and errors ---------------------------------------------------------

    def _client(self) -> RedisCluster:
        cluster = self._cluster
        if cluster is not None:
            return cluster
        with self._lock:
            if self._cluster is None:
                self._cluster = self._connect()
            return self._cluster

    def _connect(self) -> RedisCluster:
        from redis.backoff import ExponentialBackoff
        from redis.cluster import ClusterNode, RedisCluster
        from redis.retry import Retry

        config = self._config
        nodes = []
        for node in config.startup_nodes:
            host, _, port = node.rpartition(":")
            nodes.append(ClusterNode(host.strip("[]"), int(port)))  # type: ignore[no-untyped-call]
        try:
            cluster = RedisCluster(
                startup_nodes=nodes,
                username=config.username,
                password=config.password,
                socket_connect_timeout=config.connect_timeout_seconds,
                socket_timeout=config.timeout_seconds,
                max_connections=config.max_connections,
                client_name=client_name(f"parity-online-{config.key_prefix}"),
                # A few short retries ride over a failover's slot map refresh; a longer
                # outage surfaces as OnlineStorePartlyUnavailable instead of a hang.
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 3),
                require_full_coverage=True,
            )
            self._sha = cluster.script_load(WRITE_LATEST).encode()
        except self._errors as exc:
            raise self._unavailable("the first connection", exc) from exc
        return cluster

    def _unavailable(self, action: str, exc: Exception) -> ParityError:
        reason = str(exc).rstrip(".")
        where = f"Redis Cluster online store (startup_nodes {self._nodes_text})"
        if "cluster mode is not enabled" in reason.lower() or "cluster support disabled" in (
            reason.lower()
        ):
            # Not transient: the setting points at a plain server.
            return ConfigError(
                f"{where}: a startup node is a Redis server without cluster mode ({reason}). "
                "Fix online_store.startup_nodes to list nodes of a Redis Cluster, or use "
                "online_store: {type: redis, url: redis://HOST:PORT/0} for a single server."
            )
        if isinstance(exc, self._refused) or "password" in reason.lower():
            return ConfigError(
                f"{where} refused the credentials ({reason}). Fix online_store.username "
                "and online_store.password (or PARITY__ONLINE_STORE__PASSWORD) to a user "
                "every node knows, or remove them if the cluster has no ACL."
            )
        if isinstance(exc, self._partial) or "slots are not covered" in reason:
            return OnlineStorePartlyUnavailable(
                f"{where} cannot serve part of its key space during {action}: {reason}. "
                f"A master is down without a replica to take over, or hash slots have no "
                f"master. {_FIX}."
            )
        if "cannot be connected" in reason:
            return OnlineStoreUnavailable(
                f"{where}: no startup node answered during {action}: {reason}. Start the "
                "cluster, or fix online_store.startup_nodes in parity.yaml (or "
                "PARITY__ONLINE_STORE__STARTUP_NODES)."
            )
        if isinstance(exc, self._unreachable):
            return OnlineStorePartlyUnavailable(
                f"{where}: a node did not answer during {action}: {reason}. If a master "
                f"failed, its replica takes over within the cluster-node-timeout. {_FIX}."
            )
        # A node answered with an error: out of memory, ACLs, a read-only node.
        return OnlineStoreUnavailable(
            f"{where} refused {action}: {reason}. Check the nodes' maxmemory and the "
            "user's ACL (online_store.username / password)."
        )

    def _table(self, table: ViewTable) -> tuple[TableCodec, bytes]:
        entry = self._tables.get(table)
        if entry is None:
            entry = (TableCodec(table), _tagged(self._prefix + table.namespace.encode() + b":"))
            self._tables[table] = entry
        return entry

    # -- writes ------------------------------------------------------------------------

    def write(self, table: ViewTable, rows: pa.Table, /) -> WriteResult:
        """Set each key's greatest row unless the stored one is newer or equal.

        Example:
            >>> store.write(table, rows)  # doctest: +SKIP
            WriteResult(rows=3, written=3, skipped=0)
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        codec, namespace = self._table(table)
        batch = codec.encode_batch(rows)
        if batch.rows == 0:
            return WriteResult(rows=0, written=0, skipped=0)
        # Slots first, from the entity keys: they are the hash tag unless empty or holding
        # a '}' (then the full key decides, as the cluster computes it).
        entity_keys = batch.keys.to_pylist()
        slots = np.fromiter(
            (crc_hqx(k, 0) if k and b"}" not in k else -1 for k in entity_keys),
            dtype=np.int64,
            count=len(entity_keys),
        )
        slots[slots >= 0] &= SLOTS - 1
        order = np.argsort(slots, kind="stable")
        ordered = pa.array(order)
        keys = pc.binary_join_element_wise(
            pa.scalar(namespace), batch.keys.take(ordered), pa.scalar(b"}"), b""
        ).to_pylist()
        values = batch.values.take(ordered).to_pylist()
        sorted_slots = slots[order]
        untagged = int(np.searchsorted(sorted_slots, 0))  # the -1s sort first
        if untagged:
            sorted_slots[:untagged] = [key_slot(k) for k in keys[:untagged]]
            resort = np.argsort(sorted_slots, kind="stable")
            sorted_slots = sorted_slots[resort]
            keys = [keys[i] for i in resort]
            values = [values[i] for i in resort]
        bounds = [0, *(np.flatnonzero(np.diff(sorted_slots)) + 1).tolist(), len(keys)]
        chunks: list[Chunk] = []
        size = self._batch
        for lo, hi in itertools.pairwise(bounds):
            slot = int(sorted_slots[lo])
            for start in range(lo, hi, size):
                stop = min(start + size, hi)
                chunks.append((slot, keys[start:stop], values[start:stop]))
        try:
            written = self._run_scripts(chunks)
        except self._errors as exc:
            raise self._unavailable(f"a write to {table.namespace}", exc) from exc
        return WriteResult(rows=batch.rows, written=written, skipped=batch.rows - written)

    def _run_scripts(self, chunks: list[Chunk]) -> int:
        """The script on every chunk, as per-master packets; what those cannot run (a
        redirection, a missing script, a dropped connection) runs again through the
        cluster client. The rule makes a rerun safe; a chunk whose reply was lost after
        it ran counts its keys as skipped on the rerun.
        """
        cluster = self._client()
        written, retry = self._packets.run_scripts(cluster, self._sha, chunks)
        if retry:
            written += self._run_through_client(cluster, retry)
        return written

    def _run_through_client(self, cluster: RedisCluster, chunks: list[Chunk]) -> int:
        """The chunks through redis-py's cluster pipeline; ``NOSCRIPT`` loads the script on
        every master and runs those chunks once more."""
        from redis.exceptions import NoScriptError

        written = 0
        pending = chunks
        for attempt in (1, 2):
            pipe = cluster.pipeline(transaction=False)  # type: ignore[no-untyped-call]
            for _, keys, values in pending:
                pipe.evalsha(self._sha, len(keys), *keys, *values)
            replies = pipe.execute(raise_on_error=False)
            for reply in replies:
                if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
                    raise reply
            written += sum(r for r in replies if isinstance(r, int))
            missing = [c for c, r in zip(pending, replies, strict=True) if isinstance(r, Exception)]
            if not missing:
                break
            if attempt == 2:
                raise NoScriptError("the write script is still missing after loading it")
            self._sha = cluster.script_load(WRITE_LATEST).encode()
            pending = missing
        return written

    # -- reads -------------------------------------------------------------------------

    def read(self, requests: Sequence[ReadRequest], /) -> list[list[OnlineRow | None]]:
        """All entities of all requests: one packet of per-slot ``MGET`` s per master.

        Example:
            >>> store.read([ReadRequest(table, keys=[(1,), (99,)])])  # doctest: +SKIP
            [[OnlineRow(...), None]]
        """
        keys: list[bytes] = []
        slots: list[int] = []
        plan: list[tuple[Callable[[bytes], OnlineRow], int]] = []
        tables = self._tables
        for request in requests:
            codec, namespace = tables.get(request.table) or self._table(request.table)
            encode = codec.encode_key
            for wanted in request.keys:
                entity = encode(wanted)
                key = namespace + entity + b"}"
                keys.append(key)
                # The entity key is the hash tag unless empty or holding a '}'.
                slots.append(
                    crc_hqx(entity, 0) & (SLOTS - 1)
                    if entity and b"}" not in entity
                    else key_slot(key)
                )
            plan.append((codec.decode, len(request.keys)))
        if not keys:
            return [[] for _ in requests]
        raw = self._get_many(keys, slots, "a read")
        out: list[list[OnlineRow | None]] = []
        pos = 0
        for decode, count in plan:
            if count == 1:
                value = raw[pos]
                out.append([None if value is None else decode(value)])
            else:
                out.append([None if v is None else decode(v) for v in raw[pos : pos + count]])
            pos += count
        return out

    def _get_many(self, keys: list[bytes], slots: list[int], action: str) -> list[Any]:
        """The values of ``keys`` (``None`` where missing), in order; ``slots`` are theirs."""
        cluster = self._client()
        try:
            found = self._packets.get(cluster, keys, slots)
        except self._errors:
            found = None
        if found is not None:
            return found
        # Redirected, disconnected or failing over: redis-py's cluster client follows
        # MOVED/ASK, refreshes the slot map and retries.
        try:
            values: list[Any] = cluster.mget_nonatomic(keys)
        except self._errors as exc:
            raise self._unavailable(action, exc) from exc
        return values

    # -- scans and deletes -------------------------------------------------------------

    def scan(self, table: ViewTable, /, *, batch_size: int = 10_000) -> Iterator[pa.Table]:
        """Every stored entity's keys and timestamps (SCAN on every master, then reads).

        Example:
            >>> next(store.scan(table)).num_rows  # doctest: +SKIP
            3
        """
        codec, namespace = self._table(table)
        skip = len(namespace)
        batch: list[bytes] = []
        try:
            for key in self._client().scan_iter(match=scan_pattern(namespace), count=SCAN_STEP):
                batch.append(key)
                if len(batch) >= batch_size:
                    yield from self._scan_batch(codec, batch, skip)
                    batch = []
            if batch:
                yield from self._scan_batch(codec, batch, skip)
        except self._errors as exc:
            raise self._unavailable(f"a scan of {table.namespace}", exc) from exc

    def _scan_batch(self, codec: TableCodec, keys: list[bytes], skip: int) -> Iterator[pa.Table]:
        values = self._get_many(keys, [key_slot(k) for k in keys], "a scan")
        # A key deleted between SCAN and MGET is simply gone; the tag's '}' is dropped.
        found = [(k[skip:-1], v[:16]) for k, v in zip(keys, values, strict=True) if v is not None]
        if found:
            yield codec.scan_batch([k for k, _ in found], [h for _, h in found])

    def swap(self, table: ViewTable, changes: Sequence[ValueSwap], /) -> int:
        """Compare-and-set per key (see :meth:`OnlineStore.swap`): one script call per key,
        so each call touches one slot. Retractions are rare; no per-master batching.

        Example:
            >>> store.swap(table, [ValueSwap(b"1", expected=old, new=None)])  # doctest: +SKIP
            1
        """
        _, namespace = self._table(table)
        cluster = self._client()
        changed = 0
        try:
            for change in changes:
                key = namespace + change.key + b"}"
                changed += int(cluster.eval(SWAP, 1, key, change.expected, change.new or b""))
        except self._errors as exc:
            raise self._unavailable(f"a swap in {table.namespace}", exc) from exc
        return changed

    def delete_table(self, table: ViewTable, /) -> int:
        """Unlink every key of the view version (SCAN every master, UNLINK per slot).

        Example:
            >>> store.delete_table(table)  # doctest: +SKIP
            3
        """
        _, namespace = self._table(table)
        cluster = self._client()
        removed = 0
        chunk: list[bytes] = []
        try:
            for key in cluster.scan_iter(match=scan_pattern(namespace), count=SCAN_STEP):
                chunk.append(key)
                if len(chunk) >= 1000:
                    removed += cluster.unlink(*chunk)
                    chunk = []
            if chunk:
                removed += cluster.unlink(*chunk)
        except self._errors as exc:
            raise self._unavailable(f"delete_table({table.namespace})", exc) from exc
        self._tables.pop(table, None)
        return removed

    def close(self) -> None:
        """Disconnect every pooled connection of every node."""
        with self._lock:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
