"""The stream processor: events in, exact window values out, checkpointed, at least once.

One loop, each turn:

1. keep this process's share of partitions (leases; see :mod:`parity.stream.coordination`);
   acquiring one loads its checkpoint and takes over its unacknowledged messages;
2. poll a batch; decode each message (bad ones go to the dead letters and quarantine);
   apply it to its partition's :class:`~parity.stream.state.WindowState` (redeliveries
   are recognised by event id, late events dropped and counted);
3. fire due expiry timers;
4. write the changed entities' values at their ``as_of`` to the online store (the
   created timestamp is the processing time, so a recomputed value at the same instant
   replaces the previous one; replays are idempotent by the online store's rule);
5. every ``checkpoint_interval_seconds``: evict and snapshot the changes; a flush thread
   writes the checkpoint (changed entities, and the events first applied since the last
   one into the partition's spool, in one ``MULTI/EXEC``); then the loop acknowledges
   the messages. The loop never touches Delta: an offline appender *process*
   (:mod:`parity.stream.offline_appender`) drains the spools into the offline store,
   exactly once, so its Arrow and Delta work never holds this process's GIL.

A crash at any point loses nothing: unacknowledged messages are delivered again and the
checkpoint says which of them are already in the state; the spool holds a checkpoint's
raw events exactly when the checkpoint exists (each with its message id), and the Delta
table records (application transactions) up to which message position of each partition
of the source it holds, whichever group appended them.

Example:
    >>> processor = store.stream_processor("txn_stats@v1",  # doctest: +SKIP
    ...                                    settings=StreamSettings(stream="txns"))
    >>> processor.run(stop=threading.Event())  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from parity.errors import (
    BadEvent,
    DefinitionError,
    OfflineAppendStalled,
    OnlineStoreUnavailable,
    ParityError,
)
from parity.offline.aggregations import events_spec
from parity.online.base import ViewTable
from parity.stream.base import Message, StreamTransport
from parity.stream.collector import quiet_collector
from parity.stream.config import StreamSettings
from parity.stream.coordination import Checkpoint, RedisCoordinator
from parity.stream.events import EventSchema
from parity.stream.metrics import StreamMetrics
from parity.stream.offline_appender import (
    AppenderJob,
    AppenderProcess,
    require_delta_source,
)
from parity.stream.outage import Outage
from parity.stream.state import Applied, EntityWindow, Key, WindowState

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.definitions import FeatureView
    from parity.offline.base import OfflineEngine, ViewReadSpec
    from parity.online.base import OnlineStore


@dataclass
class _Flush:
    """One checkpoint on its way to Redis (state, meta and spool entry)."""

    partition: int
    checkpoint: Checkpoint
    # Changed entities' windows (snapshots), serialized on the flush thread.
    windows: list[tuple[Key, list[Any]]]
    removed: list[bytes]
    unacked: list[Message]
    offline: dict[str, Any] | None
    # The transport message id of each raw event of ``offline`` (its position: the
    # appender appends each position of the source once, whatever the group).
    offline_ids: list[str]
    rejected: list[tuple[Message, str]]


@dataclass
class _Partition:
    """One owned partition: its state, checkpoint and what the next checkpoint covers."""

    state: WindowState
    checkpoint: Checkpoint
    unacked: list[Message] = field(default_factory=list)
    # (key, event time, input values or None for a retraction, message id)
    offline: list[tuple[Key, int, tuple[Any, ...] | None, str]] = field(default_factory=list)
    rejected: list[tuple[Message, str]] = field(default_factory=list)
    changed: set[Key] = field(default_factory=set)
    removed: set[Key] = field(default_factory=set)


# Checkpoints in flight before the loop waits for the flush thread (backpressure).
_MAX_FLUSHES = 4
logger = logging.getLogger("parity.stream")

# Eviction walks every entity of a partition: memory hygiene, every few checkpoints.
_EVICT_EVERY = 8
# The longest pause between rebalances (heartbeat, renewals, fair share).
_REBALANCE_SECONDS = 0.5
# How often checkpoint() looks whether the offline appender caught up.
_OFFLINE_POLL_SECONDS = 0.02


def _dependency_errors(transport: StreamTransport) -> tuple[type[BaseException], ...]:
    """What an unreachable Redis (leases, checkpoints) or transport raises."""
    import redis.exceptions

    return (
        *type(transport).server_errors(),
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        ConnectionError,
        TimeoutError,
    )


def _now_us() -> int:
    return time.time_ns() // 1000


def _key_bytes(key: Key) -> bytes:
    return orjson.dumps(list(key))


class StreamProcessor:
    """Applies one aggregation view version's events to the online and offline stores.

    Example:
        >>> processor.step()  # doctest: +SKIP
        412
    """

    def __init__(
        self,
        view: FeatureView,
        /,
        *,
        version: int,
        project: str,
        spec: ViewReadSpec,
        online: OnlineStore,
        engine: OfflineEngine,
        settings: StreamSettings,
        quarantine_root: Path,
        transport: StreamTransport | None = None,
        member: str | None = None,
    ) -> None:
        if not view.aggregations:
            raise DefinitionError(
                f"Feature view {view.name!r} has no aggregations; a stream processor computes "
                "aggregation views. Push plain rows with the push API instead."
            )
        self.view = view
        self.settings = settings
        self.table = ViewTable.from_view(view, project=project, version=version)
        self.spec = spec
        self.raw_spec = events_spec(spec)
        self.online = online
        self.engine = engine
        self.quarantine_root = quarantine_root
        self.schema = EventSchema.from_spec(spec, id_field=settings.id_field)
        self.group = settings.group_for(project, view.name, version)
        self.member = member or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.transport = transport if transport is not None else self._transport()
        self._dependency_errors = _dependency_errors(self.transport)
        self.coordinator = RedisCoordinator(
            settings.coordination_url,
            prefix=settings.coordination_prefix(self.group),
            lease_ms=int(settings.lease_seconds * 1000),
        )
        self.metrics = StreamMetrics()
        self._partitions: dict[int, _Partition] = {}
        self._turn = 0
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-flush")
        self._flushes: deque[tuple[_Flush, Future[None]]] = deque()
        self._order = [spec.aggregations.index(a) for a in self._aggregations_in_table_order()]
        # The online write's columns and Arrow types, resolved once (it runs every turn).
        import pyarrow as pa

        self._online_columns = [
            *self.table.join_key_names,
            *self.table.feature_names,
            "event_timestamp",
            "created_timestamp",
        ]
        self._arrow_types = (
            [dtype.to_arrow() for _, dtype in self.table.join_keys],
            [
                (position, dtype.to_arrow())
                for (_, dtype), position in zip(self.table.features, self._order, strict=True)
            ],
            pa.timestamp("us", tz="UTC"),
        )
        self._created_us = 0
        self.last_turn = time.monotonic()
        self._next_rebalance = 0.0
        self._next_checkpoint = time.monotonic() + settings.checkpoint_interval_seconds
        self._lateness_us = int(settings.allowed_lateness_seconds * 1_000_000)
        self._future_us = int(settings.future_tolerance_seconds * 1_000_000)
        # Per partition: the last spooled sequence, and (sequence, rows) not yet confirmed.
        self._spooled: dict[int, int] = {}
        self._unconfirmed: dict[int, list[tuple[int, int]]] = {}
        self._appender_job = AppenderJob(
            raw_spec=self.raw_spec,
            quarantine_root=quarantine_root,
            coordination_url=settings.coordination_url,
            prefix=self.coordinator.prefix,
            partitions=settings.partitions,
            lease_ms=self.coordinator.lease_ms,
            member=f"{self.member}-appender",
            stream=settings.stream,
        )
        require_delta_source(self.raw_spec)
        self.appender: AppenderProcess | None = None
        self._appender_restart_at = 0.0
        if settings.offline_appender == "process":
            self.appender = AppenderProcess(self._appender_job)
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the online write path once, on no rows: its imports and first-call setup
        (codec, compute kernels) otherwise stall the first turn with events for 100-300 ms
        (measured), which alone is 1-2% of the events of a 15-second run."""
        self.online.write(self.table, self._online_rows([], [], [], 0))

    def _online_rows(
        self, keys: list[Key], rows: list[tuple[Any, ...]], times: list[int], created_us: int
    ) -> pa.Table:
        """The online write's table, with the column names and types resolved at start."""
        import pyarrow as pa

        key_types, feature_types, stamp = self._arrow_types
        arrays = [pa.array([k[n] for k in keys], t) for n, t in enumerate(key_types)]
        arrays += [pa.array([r[position] for r in rows], t) for position, t in feature_types]
        arrays.append(pa.array(times, stamp))
        arrays.append(pa.array([created_us] * len(keys), stamp))
        return pa.Table.from_arrays(arrays, names=self._online_columns)

    def _aggregations_in_table_order(self) -> list[Any]:
        by_name = {a.name: a for a in self.spec.aggregations}
        return [by_name[name] for name in self.table.feature_names]

    def _transport(self) -> StreamTransport:
        from parity.stream.transports import open_transport

        return open_transport(
            self.settings.transport,
            self.settings.url,
            stream=self.settings.stream,
            group=self.group,
            consumer=self.member,
            ack_wait_seconds=self.settings.ack_wait_seconds,
        )

    # --- the loop --------------------------------------------------------------------

    def run(self, *, stop: threading.Event, max_seconds: float | None = None) -> None:
        """Process until ``stop`` is set (or ``max_seconds`` pass), then checkpoint and leave.

        While it runs, the cyclic garbage collector leaves the long-lived heap alone
        (:func:`quiet_collector`); the previous settings come back when it returns.
        """
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        outage = Outage(bound_seconds=self.settings.dependency_outage_seconds)
        failure: BaseException | None = None
        try:
            with quiet_collector(self.settings.full_collection_seconds) as collector:
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    try:
                        self.step()
                    except self._dependency_errors as exc:
                        if isinstance(exc, ParityError) and not isinstance(
                            exc, OnlineStoreUnavailable
                        ):
                            raise  # parity's own verdict (e.g. OfflineAppendStalled)
                        # Redis restarting, the transport reconnecting: keep the state,
                        # wait, try the turn again (raises past the bound).
                        stop.wait(outage.failed(exc))
                        self.metrics.dependency_retries += 1
                        continue
                    if outage.recovered():
                        self._next_rebalance = 0.0  # leases may have moved meanwhile
                    collector.tick()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            try:
                self.shutdown()
            except Exception as exc:
                if failure is None:
                    raise
                # The final checkpoint fails for the same reason: the first error stands.
                logger.error("stream processor shutdown after %r failed too: %r", failure, exc)

    def step(self) -> int:
        """One turn of the loop; returns how many messages it received."""
        self.last_turn = time.monotonic()  # /healthz reads it (parity.stream.operator)
        if time.monotonic() >= self._next_rebalance:
            self.rebalance()
        owned = sorted(self._partitions)
        if not owned:
            time.sleep(self.settings.poll_timeout_ms / 1000)
            return 0
        messages = self.transport.poll(
            owned, max_messages=self.settings.batch_size, timeout_ms=self.settings.poll_timeout_ms
        )
        now_us = _now_us()
        for message in messages:
            self._apply(message, now_us)
        for part in self._partitions.values():
            self.metrics.expiries += len(part.state.due(now_us))
        self._publish_online(now_us)
        visible_us = _now_us()
        latencies = self.metrics.latencies_us
        for message in messages:
            if message.published_us is not None:
                latencies.append(visible_us - message.published_us)
        if time.monotonic() >= self._next_checkpoint:
            # One partition per turn, round robin: each is checkpointed every interval and
            # the loop never stops for all of them at once.
            self._next_checkpoint = (
                time.monotonic() + self.settings.checkpoint_interval_seconds / len(owned)
            )
            self._turn = (self._turn + 1) % len(owned)
            partition = owned[self._turn]
            if partition in self._partitions:
                self._checkpoint(partition, self._partitions[partition])
        # Keep the hot loop off Delta and Redis writes; block only if flushes pile up.
        self._finish(block=len(self._flushes) > _MAX_FLUSHES)
        return len(messages)

    def _apply(self, message: Message, now_us: int) -> None:
        part = self._partitions.get(message.partition)
        if part is None:
            return  # the lease was lost meanwhile: the new owner gets it again
        part.unacked.append(message)
        self.metrics.received += 1
        try:
            key, time_us, event_id, values = self.schema.decode(message.payload)
        except BadEvent as exc:
            self._reject(part, message, str(exc))
            return
        if time_us > now_us + self._future_us:
            self._reject(part, message, "event time is in the future beyond the tolerance")
            return
        if event_id is None:
            event_id = f"{message.partition}:{message.message_id}"
        if values is None:  # a retraction (CDC delete, #18)
            applied = part.state.retract(key, time_us, event_id)
        else:
            applied = part.state.apply(key, time_us, event_id, values)
        if applied is Applied.NEW:
            self.metrics.applied += 1
            part.offline.append((key, time_us, values, message.message_id))
        elif applied is Applied.DUPLICATE:
            self.metrics.duplicates += 1
        else:
            self.metrics.late_dropped += 1
            self._reject(part, message, "later than the allowed lateness", late=True)

    def _reject(
        self, part: _Partition, message: Message, reason: str, *, late: bool = False
    ) -> None:
        self.transport.dead_letter(message, reason)
        part.rejected.append((message, reason))
        if not late:
            self.metrics.dead_lettered += 1

    def _publish_online(self, now_us: int) -> None:
        keys: list[Key] = []
        rows: list[tuple[Any, ...]] = []
        times: list[int] = []
        for part in self._partitions.values():
            changed, removed = part.state.take_dirty()
            part.changed.update(changed)
            part.changed.difference_update(removed)
            part.removed.update(removed)
            part.removed.difference_update(changed)
            for key in changed:
                keys.append(key)
                rows.append(part.state.values(key))
                times.append(part.state.entities[key].as_of)
        if not keys:
            return
        self._created_us = max(now_us, self._created_us + 1)
        result = self.online.write(
            self.table, self._online_rows(keys, rows, times, self._created_us)
        )
        self.metrics.online_rows_written += result.written

    # --- checkpoints -----------------------------------------------------------------

    def checkpoint(self) -> None:
        """Checkpoint every owned partition and wait until the checkpoints are written,
        their messages acknowledged and their raw events appended offline (by whichever
        process of the group holds the appender lease)."""
        self._next_checkpoint = time.monotonic() + self.settings.checkpoint_interval_seconds
        for partition, part in list(self._partitions.items()):
            self._checkpoint(partition, part)
        self._finish(block=True)
        self._wait_offline()

    def _wait_offline(self) -> None:
        deadline = time.monotonic() + self.settings.offline_wait_seconds
        while True:
            done = self.coordinator.offline_done()
            self._confirm_offline(done)
            if all(done.get(p, 0) >= s for p, s in self._spooled.items()):
                return
            if time.monotonic() >= deadline:
                behind = {p: (done.get(p, 0), s) for p, s in self._spooled.items()}
                raise OfflineAppendStalled(
                    f"stream {self.settings.stream!r}, group {self.group!r}: raw events of "
                    f"checkpoints are not in the offline store after "
                    f"{self.settings.offline_wait_seconds} s (partition: (appended, "
                    f"spooled) sequences {behind}). They are safe in the spool; start an "
                    "appender (`parity stream run` starts one unless --offline-appender "
                    "none; else `parity stream append-offline`) or raise "
                    "offline_wait_seconds."
                )
            time.sleep(_OFFLINE_POLL_SECONDS)

    def _confirm_offline(self, done: dict[int, int]) -> None:
        """Count the spooled rows the appender has confirmed."""
        for partition, pending in self._unconfirmed.items():
            upto = done.get(partition, 0)
            while pending and pending[0][0] <= upto:
                self.metrics.offline_rows_appended += pending.pop(0)[1]

    def _checkpoint(self, partition: int, part: _Partition) -> None:
        """Snapshot a partition's changes here; write them on the flush thread."""
        if part.checkpoint.sequence % _EVICT_EVERY == 0:
            self.metrics.evicted += part.state.evict()
        self._publish_online(_now_us())
        if not (part.unacked or part.changed or part.removed):
            return
        part.checkpoint.sequence += 1
        part.checkpoint.watermark = part.state.watermark
        sequence = part.checkpoint.sequence
        flush = _Flush(
            partition=partition,
            checkpoint=dataclasses.replace(part.checkpoint, entities={}),
            windows=[
                (k, part.state.entities[k].to_list())
                for k in part.changed
                if k in part.state.entities
            ],
            removed=[_key_bytes(k) for k in part.removed],
            unacked=part.unacked,
            offline=self._offline_columns(part.offline) if part.offline else None,
            offline_ids=[e[3] for e in part.offline],
            rejected=part.rejected,
        )
        if part.offline or part.rejected:
            self._spooled[partition] = sequence
            self._unconfirmed.setdefault(partition, []).append((sequence, len(part.offline)))
        part.unacked, part.offline, part.rejected = [], [], []
        part.changed, part.removed = set(), set()
        self._flushes.append((flush, self._flusher.submit(self._write_checkpoint, flush)))

    def _write_checkpoint(self, flush: _Flush) -> None:
        """On the flush thread: serialize, then write the checkpoint and its spool entry in
        one transaction (the loop only took snapshots: measured 3-5 ms per checkpoint on
        the loop when it serialized them itself, 60 s into the latency benchmark)."""
        spool: dict[str, bytes] = {}
        if flush.offline is not None:
            flush.offline["created"] = max(_now_us(), self._created_us)
            spool["rows"] = orjson.dumps(flush.offline)
            spool["ids"] = orjson.dumps(flush.offline_ids)
        if flush.rejected:
            spool["rejected"] = orjson.dumps(
                [
                    [m.partition, m.message_id, m.payload.decode("utf-8", "replace"), reason]
                    for m, reason in flush.rejected
                ]
            )
        self.coordinator.save(
            flush.partition,
            flush.checkpoint,
            upserts={_key_bytes(k): orjson.dumps(w) for k, w in flush.windows},
            removed=flush.removed,
            spool=spool or None,
        )

    def _finish(self, *, block: bool) -> None:
        """Acknowledge the messages of written checkpoints, oldest first (on this thread:
        transports are not shared across threads). A flush error is raised here."""
        while self._flushes and (block or self._flushes[0][1].done()):
            flush, future = self._flushes.popleft()
            future.result()
            self.transport.ack(flush.unacked)
            self.metrics.checkpoints += 1

    def _offline_columns(
        self, events: list[tuple[Key, int, tuple[Any, ...] | None, str]]
    ) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for n, key in enumerate(self.raw_spec.join_keys):
            columns[key.source_column] = [e[0][n] for e in events]
        columns[self.raw_spec.source.timestamp_field] = [e[1] for e in events]
        for n, name in enumerate(self.schema.input_names):
            columns[name] = [None if e[2] is None else e[2][n] for e in events]
        if self.schema.op_field is not None:
            columns[self.schema.op_field] = ["d" if e[2] is None else None for e in events]
        return columns

    def window_state_size(self) -> dict[int, int]:
        """Entities held in window state, per owned partition (for /metrics)."""
        return {p: len(part.state.entities) for p, part in list(self._partitions.items())}

    # --- partitions --------------------------------------------------------------------

    def rebalance(self) -> None:
        """Renew leases, give up partitions above the fair share, take free ones below it.

        Every ``min(lease / 3, 0.5 s)``, in one round trip when nothing moves: a new member
        gets its share within about a second (measured: at lease / 3 alone, a second
        process of the throughput benchmark idled 2-3 s before owning anything).
        """
        self._next_rebalance = time.monotonic() + min(
            self.settings.lease_seconds / 3, _REBALANCE_SECONDS
        )
        members, lost = self.coordinator.heartbeat_and_renew(self.member, sorted(self._partitions))
        total = self.settings.partitions
        share = math.ceil(total / max(members, 1))
        for partition in lost:
            del self._partitions[partition]  # expired and taken: its owner has it now
        while len(self._partitions) > share:
            partition = max(self._partitions)
            self._checkpoint(partition, self._partitions.pop(partition))
            self._finish(block=True)
            self.coordinator.release(partition, self.member)
        start = hash(self.member) % total
        for offset in range(total):
            if len(self._partitions) >= share:
                break
            partition = (start + offset) % total
            if partition not in self._partitions and self.coordinator.try_lease(
                partition, self.member
            ):
                self._acquire(partition)
        self.metrics.partitions_owned = len(self._partitions)
        if (
            self.appender is not None
            and not self.appender.alive()
            and time.monotonic() >= self._appender_restart_at
        ):
            # Killed or crashed: its spool entries wait; a new child takes the lease over
            # (at most one start per lease period: a child that cannot start must not
            # turn into a fork loop; its error is on this process's stderr).
            self.appender.stop()
            self.appender = AppenderProcess(self._appender_job)
            self.metrics.appender_restarts += 1
            self._appender_restart_at = time.monotonic() + self.settings.lease_seconds
        if self._unconfirmed:
            self._confirm_offline(self.coordinator.offline_done())

    def _acquire(self, partition: int) -> None:
        ckpt = self.coordinator.load(partition)
        state = WindowState(self.spec.aggregations, allowed_lateness_us=self._lateness_us)
        state.restore(
            (
                (tuple(orjson.loads(k)), EntityWindow.from_list(orjson.loads(v)))
                for k, v in ckpt.entities.items()
            ),
            ckpt.watermark,
        )
        ckpt.entities = {}
        self.transport.acquire(partition)
        self._partitions[partition] = _Partition(state, ckpt)

    def shutdown(self) -> None:
        """Checkpoint, release every partition and leave the group."""
        try:
            self.checkpoint()
            for partition in list(self._partitions):
                self.coordinator.release(partition, self.member)
            self._partitions.clear()
            self.coordinator.leave(self.member)
        finally:
            self._flusher.shutdown(wait=True)
            if self.appender is not None:
                self.appender.stop()
            self.transport.close()
            self.coordinator.close()
