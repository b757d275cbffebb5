"""Redis online store for production (a single server).

Layout: one Redis string per (view version, entity):
``{key_prefix}:{project}:{view}:v{version}:{entity key}`` holding the codec's compact
value (:mod:`parity.online.value_codec`: a 19-byte ordered header, null flags,
fixed-width features, then strings and lists). Chosen over one hash per entity because
a read of any number of entities in any number of views is then one ``MGET`` (one round
trip, one flat reply, no per-field parsing or text conversion): in
``benchmarks/online_store.py`` 100 entities x 3 views take about 3x longer as pipelined
``HGETALL`` before any decoding than as our ``MGET`` with decoding.

Writes run a server-side Lua script per chunk of keys (``write_batch_size``), all chunks
of a write in one pipeline. The script ``MGET``s the chunk, compares each stored value
with the new one byte by byte (the header makes that the (event, created, payload)
order) and ``MSET``s the greater ones. A script runs atomically, so concurrent writers
can never let an older value win. Measured alternatives: batched WATCH/MULTI (three
round trips per chunk, retries under contention) wrote about 2x slower, and a plain
pipelined ``SET`` without any check was slower still, from redis-py's per-command cost.
The script and key naming are shared with the cluster backend
(:mod:`parity.online.redis_layout`).

``redis`` is imported when a store is built, never by ``import parity``.

Example:
    >>> config = RedisOnlineConfig(url="redis://127.0.0.1:6379/0")
    >>> store = RedisOnlineStore(config)  # doctest: +SKIP
    >>> store.read([ReadRequest(table, keys=[(1,)])])  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parity.errors import OnlineStoreUnavailable
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
from parity.online.redis_layout import SCAN_STEP, SWAP, WRITE_LATEST, client_name, scan_pattern

if TYPE_CHECKING:
    import pyarrow as pa


class RedisOnlineConfig(BaseModel):
    """``online_store: {type: redis, url: redis://127.0.0.1:6379/0, key_prefix: parity}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "parity"
    connect_timeout_seconds: Annotated[float, Field(gt=0)] = 1.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_connections: Annotated[int, Field(gt=0)] = 64
    # Keys per Lua script call; Lua's unpack() caps a call near 8,000 arguments.
    write_batch_size: Annotated[int, Field(gt=0, le=2000)] = 1000


def _redact(url: str) -> str:
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", url)


class RedisOnlineStore(OnlineStore, ScansEntities):
    """The online store on one Redis server, through a pooled ``redis-py`` client.

    Example:
        >>> RedisOnlineStore.capabilities.shared
        True
    """

    capabilities = OnlineCapabilities(shared=True, concurrent_writers=True)

    def __init__(self, config: RedisOnlineConfig, /, *, repo_root: str | Path = ".") -> None:
        # repo_root: accepted like every backend's; Redis keeps no files.
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._timeout = redis.TimeoutError
        self._unreachable: tuple[type[Exception], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
        )
        self._url = _redact(config.url)
        self._prefix = config.key_prefix.encode() + b":"
        self._batch = config.write_batch_size
        # One quick retry covers a pooled connection the server closed; more would only
        # delay the error when the server is down.
        self._pool = redis.ConnectionPool.from_url(
            config.url,
            socket_connect_timeout=config.connect_timeout_seconds,
            socket_timeout=config.timeout_seconds,
            max_connections=config.max_connections,
            client_name=client_name(f"parity-online-{config.key_prefix}"),
            # Never on a timeout: a frozen server costs one timeout, not two.
            retry=Retry(
                ExponentialBackoff(cap=0.05, base=0.01),
                1,
                supported_errors=(redis.ConnectionError,),
            ),
        )
        self._client = redis.Redis(connection_pool=self._pool)
        self._script = self._client.register_script(WRITE_LATEST)
        self._swap_script = self._client.register_script(SWAP)
        self._tables: dict[ViewTable, tuple[TableCodec, bytes]] = {}

    def _unavailable(self, action: str, exc: Exception) -> OnlineStoreUnavailable:
        reason = str(exc).rstrip(".")
        if isinstance(exc, self._unreachable):
            return OnlineStoreUnavailable(
                f"Redis online store unreachable at {self._url} during {action}: {reason}. "
                "Start Redis, or fix online_store.url in parity.yaml "
                "(or PARITY__ONLINE_STORE__URL)."
            )
        # The server answered with an error: out of memory, a read-only replica, ACLs.
        return OnlineStoreUnavailable(
            f"Redis online store at {self._url} refused {action}: {reason}. Check the "
            "server's maxmemory, that online_store.url points at a writable primary, and "
            "the user's ACL."
        )

    def _table(self, table: ViewTable) -> tuple[TableCodec, bytes]:
        entry = self._tables.get(table)
        if entry is None:
            entry = (TableCodec(table), self._prefix + table.namespace.encode() + b":")
            self._tables[table] = entry
        return entry

    def write(self, table: ViewTable, rows: pa.Table, /) -> WriteResult:
        """Set each key's greatest row unless the stored one is newer or equal.

        Example:
            >>> store.write(table, rows)  # doctest: +SKIP
            WriteResult(rows=3, written=3, skipped=0)
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        codec, namespace = self._table(table)
        batch = codec.encode_batch(rows)
        keys = pc.binary_join_element_wise(pa.scalar(namespace), batch.keys, b"").to_pylist()
        values = batch.values.to_pylist()
        written = 0
        size = self._batch
        # Bound the pipeline buffer: 64 scripts of `size` keys per round trip.
        step = size * 64
        try:
            for start in range(0, len(keys), step):
                pipe = self._client.pipeline(transaction=False)
                for lo in range(start, min(start + step, len(keys)), size):
                    self._script(
                        keys=keys[lo : lo + size], args=values[lo : lo + size], client=pipe
                    )
                written += sum(pipe.execute())
        except self._errors as exc:
            raise self._unavailable(f"a write to {table.namespace}", exc) from exc
        return WriteResult(rows=batch.rows, written=written, skipped=batch.rows - written)

    def read(self, requests: Sequence[ReadRequest], /) -> list[list[OnlineRow | None]]:
        """All entities of all requests in one ``MGET``.

        Example:
            >>> store.read([ReadRequest(table, keys=[(1,), (99,)])])  # doctest: +SKIP
            [[OnlineRow(...), None]]
        """
        keys: list[bytes] = []
        plan: list[tuple[Callable[[bytes], OnlineRow], int]] = []
        tables = self._tables
        for request in requests:
            codec, namespace = tables.get(request.table) or self._table(request.table)
            encode, wanted = codec.encode_key, request.keys
            if len(wanted) == 1:  # the common serving case, without a comprehension
                keys.append(namespace + encode(wanted[0]))
            else:
                keys += [namespace + encode(key) for key in wanted]
            plan.append((codec.decode, len(wanted)))
        if not keys:
            return [[] for _ in requests]
        raw = self._mget(keys)
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

    def _mget(self, keys: list[bytes]) -> list[Any]:
        """One MGET on a pooled connection, retried once on a connection the server dropped
        (not on a timeout).

        The serving path talks to the connection directly: redis-py's per-command retry,
        event and metrics layers cost about as much as our whole decode of one entity.
        """
        pool = self._pool
        for attempt in (1, 2):
            conn = None
            try:
                conn = pool.get_connection()
                conn.send_command("MGET", *keys)  # type: ignore[no-untyped-call]
                raw: list[Any] = conn.read_response()
                return raw
            except self._errors as exc:
                if conn is not None:
                    # Its state is unknown after a failed exchange.
                    conn.disconnect()  # type: ignore[no-untyped-call]
                # Retry a connection the server dropped, never a timeout: a frozen server
                # would cost a second full timeout on a fresh connection.
                if attempt == 2 or isinstance(exc, self._timeout):
                    raise self._unavailable("a read", exc) from exc
            finally:
                if conn is not None:
                    pool.release(conn)
        raise AssertionError("unreachable")

    def scan(self, table: ViewTable, /, *, batch_size: int = 10_000) -> Iterator[pa.Table]:
        """Every stored entity's keys and timestamps (SCAN, then one MGET per batch).

        Example:
            >>> next(store.scan(table)).num_rows  # doctest: +SKIP
            3
        """
        codec, namespace = self._table(table)
        skip = len(namespace)
        batch: list[bytes] = []
        try:
            for key in self._client.scan_iter(match=scan_pattern(namespace), count=SCAN_STEP):
                batch.append(key)
                if len(batch) >= batch_size:
                    yield from self._scan_batch(codec, batch, skip)
                    batch = []
            if batch:
                yield from self._scan_batch(codec, batch, skip)
        except self._errors as exc:
            raise self._unavailable(f"a scan of {table.namespace}", exc) from exc

    def _scan_batch(self, codec: TableCodec, keys: list[bytes], skip: int) -> Iterator[pa.Table]:
        values = self._mget(keys)
        # A key deleted between SCAN and MGET is simply gone.
        found = [(k[skip:], v[:16]) for k, v in zip(keys, values, strict=True) if v is not None]
        if found:
            yield codec.scan_batch([k for k, _ in found], [h for _, h in found])

    def swap(self, table: ViewTable, changes: Sequence[ValueSwap], /) -> int:
        """Compare-and-set per key, in one server-side script (see :meth:`OnlineStore.swap`).

        Example:
            >>> store.swap(table, [ValueSwap(b"1", expected=old, new=None)])  # doctest: +SKIP
            1
        """
        if not changes:
            return 0
        _, namespace = self._table(table)
        keys = [namespace + change.key for change in changes]
        args: list[bytes] = []
        for change in changes:
            args += [change.expected, change.new or b""]
        changed, size = 0, self._batch
        try:
            for lo in range(0, len(keys), size):
                changed += int(
                    self._swap_script(
                        keys=keys[lo : lo + size], args=args[2 * lo : 2 * (lo + size)]
                    )
                )
            return changed
        except self._errors as exc:
            raise self._unavailable(f"a swap in {table.namespace}", exc) from exc

    def delete_table(self, table: ViewTable, /) -> int:
        """Unlink every key of the view version (SCAN, then UNLINK in batches).

        Example:
            >>> store.delete_table(table)  # doctest: +SKIP
            3
        """
        _, namespace = self._table(table)
        pattern = scan_pattern(namespace)
        removed = 0
        chunk: list[bytes] = []
        try:
            for key in self._client.scan_iter(match=pattern, count=SCAN_STEP):
                chunk.append(key)
                if len(chunk) >= 1000:
                    removed += self._client.unlink(*chunk)
                    chunk = []
            if chunk:
                removed += self._client.unlink(*chunk)
        except self._errors as exc:
            raise self._unavailable(f"delete_table({table.namespace})", exc) from exc
        self._tables.pop(table, None)
        return removed

    def close(self) -> None:
        """Disconnect every pooled connection."""
        self._client.close()
        self._pool.disconnect()
