"""Raw events to the offline store, exactly once, in a process of their own.

The stream processor never writes Delta. Each checkpoint puts the raw events it covers
(and the messages it rejected) in the partition's *spool*, a Redis stream
``{prefix}:spool:{partition}``, in the same ``MULTI/EXEC`` as the checkpoint itself: the
events are in the spool if and only if the state that counted them is checkpointed.

An :class:`OfflineAppender` drains a group's spools into the view's Delta table, once
per *source*, however many consumer groups (view versions) consume the stream. Each raw
event carries its message id; its :func:`message_position` (NATS stream sequence, or
Redis id ``ms-seq`` as ``ms << 20 | seq``) grows along its partition and is the same for
every group. The table records, per partition of the source stream, the highest position
it holds: a Delta *application transaction* ``(app_id=parity:source:{stream}:{partition},
version=highest position)`` committed atomically with the rows. A step reads that from
one table snapshot, keeps the spooled events above it (in position order), appends them
and the new highest positions in one commit against that snapshot (Delta rejects a
concurrent commit on the same app id: the loser reads again and skips what the winner
appended), then deletes the entries from the spool and publishes their checkpoint
sequence in ``{prefix}:offline_done`` (what :meth:`StreamProcessor.checkpoint` waits
for). So a group whose events another group already appended confirms them without
appending, and a crash anywhere redelivers entries whose positions the table already
holds: they are skipped. Nothing is lost (the spool keeps an entry until the table has
its positions) and nothing is appended twice (the table says up to where it holds each
partition). A group's spool must hold a partition's events in position order (the
transports deliver a previous owner's unacknowledged messages before newer ones).

One appender works per consumer group at a time (the ``appender`` lease); every
``parity stream run`` starts one as a child process at low priority, so the rest wait as
spares. Quarantine rows are written before the events of their entry: at least once (a
crash between the two writes, or a lost commit race, repeats them).

Example:
    >>> appender = OfflineAppender(job)  # doctest: +SKIP
    >>> appender.step()  # doctest: +SKIP
    3
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from parity.errors import (
    MessagePositionOutOfRange,
    SchemaMismatch,
    SpoolEntryInvalid,
)
from parity.stream.coordination import APPENDER_LEASE, RedisCoordinator

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

    from parity.offline.base import ViewReadSpec
    from parity.stream.config import StreamSettings


class _Stop(Protocol):
    """A threading or multiprocessing event."""

    def wait(self, timeout: float | None = None) -> bool: ...


# Entries read per partition per step: bounds one Delta commit.
_MAX_ENTRIES = 256
# Commits lost to another group's appender before a step gives up (each retry re-reads
# the table, so the second attempt normally skips what the winner appended).
_COMMIT_ATTEMPTS = 5
# A Redis stream id ``ms-seq`` is the position ``ms << 20 | seq``.
_SEQ_BITS = 20


def message_position(message_id: str) -> int:
    """A message's position in its partition: the NATS JetStream stream sequence, or the
    Redis stream id ``ms-seq`` as ``ms << 20 | seq``. Positions grow with every message
    appended to a partition and are the same for every consumer group.

    Example:
        >>> message_position("42"), message_position("1700000000000-3")
        (42, 1782579200000000003)
    """
    ms, dash, seq = message_id.partition("-")
    if not dash:
        return int(ms)
    if int(seq) >= 1 << _SEQ_BITS:
        raise MessagePositionOutOfRange(
            f"Redis stream id {message_id!r} has a sequence above {(1 << _SEQ_BITS) - 1}, "
            "more than one millisecond of a partition can hold as a 64-bit position; "
            "spread the events over more partitions (--partitions)."
        )
    return (int(ms) << _SEQ_BITS) | int(seq)


def message_positions(ids: pa.Array) -> pa.Array:
    """:func:`message_position` of an Arrow array of message ids, vectorized (int64).

    Example:
        >>> import pyarrow as pa
        >>> message_positions(pa.array(["1-0", "1-1"])).to_pylist()
        [1048576, 1048577]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) == 0:
        return pa.array([], pa.int64())
    if not pc.any(pc.match_substring(ids, "-")).as_py():
        return pc.cast(ids, pa.int64())
    parts = pc.split_pattern(ids, "-")
    ms = pc.cast(pc.list_element(parts, 0), pa.int64())
    seq = pc.cast(pc.list_element(parts, 1), pa.int64())
    if pc.max(seq).as_py() >= 1 << _SEQ_BITS:
        worst = ids[pc.index(seq, pc.max(seq)).as_py()].as_py()
        message_position(worst)  # raises, naming the id
    return pc.add(pc.multiply(ms, 1 << _SEQ_BITS), seq)


@dataclass(frozen=True)
class AppenderJob:
    """What an appender needs, as plain data (it crosses into a child process).

    ``raw_spec``: the view's raw-event spec (its Delta source); ``stream``: the source
    stream (message positions are per partition of it); ``prefix``: the consumer
    group's coordination prefix; ``interval_seconds``: the pause between appends when the
    spools are empty (entries gather into fewer, larger commits).

    Example:
        >>> AppenderJob(raw_spec=spec, quarantine_root=Path("q"),  # doctest: +SKIP
        ...             coordination_url="redis://127.0.0.1:6379/0", prefix="p",
        ...             partitions=4, lease_ms=5000, member="host-1-appender",
        ...             stream="txns")
    """

    raw_spec: ViewReadSpec
    quarantine_root: Path
    coordination_url: str
    stream: str
    prefix: str
    partitions: int
    lease_ms: int
    member: str
    interval_seconds: float = 0.5
    niceness: int = 10

    @classmethod
    def for_view(
        cls,
        spec: ViewReadSpec,
        /,
        *,
        project: str,
        settings: StreamSettings,
        member: str,
        quarantine_root: Path,
    ) -> AppenderJob:
        """The job of a view version's consumer group (what ``parity stream
        append-offline`` runs); ``spec`` is the aggregation view version's read spec.

        Example:
            >>> job = AppenderJob.for_view(spec, project="fraud", settings=settings,
            ...                            member="host-1-appender",
            ...                            quarantine_root=Path("q"))  # doctest: +SKIP
        """
        from parity.offline.aggregations import events_spec

        group = settings.group_for(project, spec.name, spec.version)
        return cls(
            raw_spec=events_spec(spec),
            quarantine_root=quarantine_root,
            coordination_url=settings.coordination_url,
            prefix=settings.coordination_prefix(group),
            partitions=settings.partitions,
            lease_ms=int(settings.lease_seconds * 1000),
            member=member,
            stream=settings.stream,
        )


def require_delta_source(raw_spec: ViewReadSpec) -> None:
    """Refuse a raw-event source the appender cannot write exactly once (not Delta).

    Example:
        >>> require_delta_source(events_spec(spec))  # doctest: +SKIP
    """
    if raw_spec.source.format != "delta":
        raise SchemaMismatch(
            f"view {raw_spec.ref} reads Parquet at {raw_spec.source.path!r}; the stream "
            "processor appends its raw events to a Delta table (exactly once, with Delta "
            "application transactions). Declare the source as DeltaSource(...)."
        )


class OfflineAppender:
    """Appends the raw events of one consumer group's spools that the view's Delta table
    does not hold yet (by message position), and confirms the entries.

    Example:
        >>> appender = OfflineAppender(job)  # doctest: +SKIP
        >>> appender.acquire() and appender.step()  # doctest: +SKIP
        2
    """

    def __init__(self, job: AppenderJob, /) -> None:
        require_delta_source(job.raw_spec)
        self.job = job
        self.coordinator = RedisCoordinator(
            job.coordination_url, prefix=job.prefix, lease_ms=job.lease_ms
        )
        self.rows_appended = 0
        self.rows_skipped = 0
        self.commits = 0
        self.conflicts = 0
        self._holding = False
        self._schema: pa.Schema | None = None

    def app_id(self, partition: int) -> str:
        """The Delta application-transaction id of a partition of the *source stream*
        (shared by every consumer group of it); its version is the highest message
        position of the partition the table holds.

        Example:
            >>> appender.app_id(3)  # doctest: +SKIP
            'parity:source:txns:3'
        """
        return f"parity:source:{self.job.stream}:{partition}"

    # --- lease -------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Hold (or renew) the group's appender lease: True while this appender is the
        group's working one (other groups' appenders work at the same time)."""
        if self._holding and self.coordinator.renew(APPENDER_LEASE, self.job.member):
            return True
        self._holding = self.coordinator.try_lease(APPENDER_LEASE, self.job.member)
        return self._holding

    def release(self) -> None:
        """Give the lease up (a clean exit)."""
        self.coordinator.release(APPENDER_LEASE, self.job.member)
        self._holding = False

    # --- work --------------------------------------------------------------------------

    def step(self) -> int:
        """Append the spooled events the table does not hold (one Delta commit), then
        confirm every entry read; returns how many spool entries were confirmed. Call only
        while :meth:`acquire` says so."""
        from deltalake.exceptions import CommitFailedError

        entries = self.coordinator.read_spools(self.job.partitions, count=_MAX_ENTRIES)
        if not entries:
            return 0
        for attempt in range(_COMMIT_ATTEMPTS):
            try:
                self._append_fresh(entries)
                break
            except CommitFailedError:
                # Another group's appender committed positions of the same partitions
                # since our snapshot (Delta rejects two transactions on one app id):
                # read the table again, the events it appended are now skipped.
                self.conflicts += 1
                if attempt == _COMMIT_ATTEMPTS - 1:
                    raise
        done: dict[int, int] = {}
        for partition, _, sequence, _ in entries:
            done[partition] = max(done.get(partition, 0), sequence)
        self.coordinator.confirm_spools(
            [(partition, entry_id) for partition, entry_id, _, _ in entries], done
        )
        return len(entries)

    def _append_fresh(self, entries: Sequence[tuple[int, bytes, int, dict[bytes, bytes]]]) -> None:
        """One Delta commit: the events above each partition's recorded position, in
        position order, and each partition's new highest position."""
        import pyarrow as pa
        import pyarrow.compute as pc

        table = self._snapshot()
        by_partition: dict[int, list[dict[bytes, bytes]]] = {}
        for partition, _, _, fields in entries:
            by_partition.setdefault(partition, []).append(fields)
        parts: list[pa.Table] = []
        rejected: list[list[Any]] = []
        last: dict[int, int] = {}
        for partition, spooled in by_partition.items():
            floor = table.transaction_version(self.app_id(partition)) or 0
            top = floor
            for fields in spooled:
                for reject in orjson.loads(fields.get(b"rejected", b"[]")):
                    position = message_position(str(reject[1]))
                    if position > floor:
                        rejected.append(reject)
                        top = max(top, position)
            batch = self._rows(
                [
                    (orjson.loads(f[b"rows"]), orjson.loads(f.get(b"ids", b"[]")))
                    for f in spooled
                    if b"rows" in f
                ]
            )
            if batch is None:
                if top > floor:
                    last[partition] = top
                continue
            fresh = batch.filter(pc.greater(batch["__position"], floor))
            self.rows_skipped += batch.num_rows - fresh.num_rows
            if fresh.num_rows:
                fresh = fresh.sort_by("__position")
                top = max(top, int(pc.max(fresh["__position"]).as_py()))
                parts.append(fresh.drop_columns(["__position"]))
            if top > floor:
                last[partition] = top
        if not last:
            return  # every event is in the table already (another group appended it)
        if rejected:
            self._quarantine(rejected)
        from deltalake import CommitProperties, Transaction, write_deltalake

        rows = pa.concat_tables(parts) if parts else self._empty()
        write_deltalake(
            table,
            rows,
            mode="append",
            commit_properties=CommitProperties(
                app_transactions=[Transaction(self.app_id(p), v) for p, v in sorted(last.items())]
            ),
        )
        self.rows_appended += rows.num_rows
        self.commits += 1

    def _snapshot(self) -> DeltaTable:
        """The table as of now (created empty if missing): its transaction versions and
        the commit's conflict check refer to this one snapshot."""
        from deltalake import DeltaTable, write_deltalake

        path = self.job.raw_spec.source.path
        if not DeltaTable.is_deltatable(path):
            Path(path).mkdir(parents=True, exist_ok=True)
            try:
                write_deltalake(path, self._empty(), mode="append")
            except Exception:
                # Lost the race to another group's appender creating it: use theirs.
                if not DeltaTable.is_deltatable(path):
                    raise
        return DeltaTable(path)

    def _table_schema(self) -> pa.Schema:
        from parity.offline.delta_writes import table_schema

        if self._schema is None:
            self._schema = table_schema(self.job.raw_spec)
        return self._schema

    def _empty(self) -> pa.Table:
        return self._table_schema().empty_table()

    def _rows(self, batches: list[tuple[dict[str, list[Any]], list[str]]]) -> pa.Table | None:
        """The spooled rows as one Arrow table, with each event's ``__position``."""
        import pyarrow as pa

        if not batches:
            return None
        spec = self.job.raw_spec
        schema = self._table_schema()
        ts = spec.source.timestamp_field
        created_field = spec.source.created_timestamp_field
        stamp = pa.timestamp("us", tz="UTC")
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        ids: list[str] = []
        for batch, batch_ids in batches:
            n = len(batch[ts])
            if len(batch_ids) != n:
                raise SpoolEntryInvalid(
                    f"a spool entry of {self.job.prefix!r} has {n} rows and {len(batch_ids)} "
                    "message ids; entries are written by the stream processor only (a "
                    "processor of an older parity wrote it?): upgrade every processor and "
                    "delete the entry from the spool stream."
                )
            ids += batch_ids
            for name in schema.names:
                if name == created_field:
                    columns[name] += [batch["created"]] * n
                else:
                    columns[name] += batch[name]
        arrays = []
        for name in schema.names:
            if name in (ts, created_field):
                arrays.append(pa.array(columns[name], pa.int64()).cast(stamp))
            else:
                arrays.append(pa.array(columns[name], schema.field(name).type))
        arrays.append(message_positions(pa.array(ids, pa.string())))
        return pa.Table.from_arrays(arrays, names=[*schema.names, "__position"])

    def _quarantine(self, rejected: list[list[Any]]) -> None:
        import pyarrow as pa

        from parity.offline.delta_writes import quarantine

        rows = pa.table(
            {
                "partition": [int(r[0]) for r in rejected],
                "message_id": [str(r[1]) for r in rejected],
                "message": [str(r[2]) for r in rejected],
            }
        )
        reasons = pa.array([str(r[3]) for r in rejected], pa.string())
        quarantine(
            self.job.raw_spec, rows, reasons, operation="stream", root=self.job.quarantine_root
        )

    def close(self) -> None:
        """Release the connection."""
        self.coordinator.close()


def run_appender(job: AppenderJob, stop: _Stop, *, parent: int | None = None) -> dict[str, int]:
    """An appender's life: at low priority, append while holding the lease, until ``stop``
    is set or (in a child) the parent process ``parent`` is gone; then drain if working and
    release the lease (after a crash it expires), so another appender takes over. Returns
    what it did: ``rows_appended`` and ``commits``.

    Example:
        >>> run_appender(job, threading.Event())  # doctest: +SKIP
    """
    with contextlib.suppress(OSError):
        os.nice(job.niceness)
    appender = OfflineAppender(job)
    renew_every = job.lease_ms / 3000
    try:
        while parent is None or os.getppid() == parent:
            working = appender.acquire()
            until = time.monotonic() + renew_every
            while working and time.monotonic() < until and appender.step():
                pass  # keep appending while the spools have entries
            if stop.wait(job.interval_seconds if working else renew_every):
                if working:
                    while appender.step():
                        pass  # drain before leaving
                break
    finally:
        with contextlib.suppress(Exception):
            appender.release()
        appender.close()
    return {"rows_appended": appender.rows_appended, "commits": appender.commits}


class AppenderProcess:
    """A child process running :func:`run_appender`: ``python -m
    parity.stream.offline_appender`` with the pickled job on its stdin (a fresh
    interpreter: no inherited locks, and no re-import of the caller's main script).
    SIGTERM asks it to drain and leave.

    Example:
        >>> process = AppenderProcess(job)  # doctest: +SKIP
        >>> process.stop()  # doctest: +SKIP
    """

    def __init__(self, job: AppenderJob, /) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "parity.stream.offline_appender"], stdin=subprocess.PIPE
        )
        assert self._process.stdin is not None
        self._process.stdin.write(pickle.dumps((job, os.getpid())))
        self._process.stdin.close()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._process.pid

    def alive(self) -> bool:
        """Whether the child is running."""
        return self._process.poll() is None

    def stop(self, *, timeout: float = 30.0) -> None:
        """Ask the child to drain and leave; kill it if it does not within ``timeout``."""
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _child() -> None:
    job, parent = pickle.loads(sys.stdin.buffer.read())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C: it stops us
    run_appender(job, stop, parent=parent)


if __name__ == "__main__":
    _child()
