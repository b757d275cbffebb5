"""Raw events to the offline store, exactly once, in a process of their own.

The stream processor never writes Delta. Each checkpoint puts the raw events it covers
(and the messages it rejected) in the partition's *spool*, a Redis stream
``{prefix}:spool:{partition}``, in the same ``MULTI/EXEC`` as the checkpoint itself: the
events are in the spool if and only if the state that counted them is checkpointed.

An :class:`OfflineAppender` drains the spools into the view's Delta table. Each entry
carries its checkpoint's sequence, which grows by one per checkpoint of a partition. One
Delta commit appends the rows of several entries together with one Delta *application
transaction* per partition, ``(app_id={prefix}:{partition}, version=last sequence)``,
so the table itself records, atomically with the rows, how far each partition's spool is
in it. Only then are the entries deleted from the spool and the sequence published in
``{prefix}:offline_done`` (what :meth:`StreamProcessor.checkpoint` waits for). A crash
anywhere in between redelivers entries whose sequence the table already holds: they are
skipped. Nothing is lost (the spool keeps an entry until the table has it) and nothing is
appended twice (the table says what it has).

One appender works per consumer group at a time (the ``appender`` lease); every
``parity stream run`` starts one as a child process at low priority, so the rest wait as
spares. Quarantine rows are written before the events of their entry: at least once (a
crash between the two writes repeats them).

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from parity.errors import ParityError, SchemaMismatch, Transient
from parity.stream.coordination import APPENDER_LEASE, RedisCoordinator

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.offline.base import ViewReadSpec
    from parity.store import FeatureStore
    from parity.stream.config import StreamSettings


class _Stop(Protocol):
    """A threading or multiprocessing event."""

    def wait(self, timeout: float | None = None) -> bool: ...


# Entries read per partition per step: bounds one Delta commit.
_MAX_ENTRIES = 256


class OfflineAppendStalled(ParityError, Transient, TimeoutError):
    """Checkpointed raw events did not reach the offline store in time (no appender runs,
    or it fails); they wait, safe, in the spool.

    Example:
        >>> raise OfflineAppendStalled("...start an appender...")  # doctest: +SKIP
    """


@dataclass(frozen=True)
class AppenderJob:
    """What an appender needs, as plain data (it crosses into a child process).

    ``raw_spec``: the view's raw-event spec (its Delta source); ``prefix``: the consumer
    group's coordination prefix; ``interval_seconds``: the pause between appends when the
    spools are empty (entries gather into fewer, larger commits).

    Example:
        >>> AppenderJob(raw_spec=spec, quarantine_root=Path("q"),  # doctest: +SKIP
        ...             coordination_url="redis://127.0.0.1:6379/0", prefix="p",
        ...             partitions=4, lease_ms=5000, member="host-1-appender")
    """

    raw_spec: ViewReadSpec
    quarantine_root: Path
    coordination_url: str
    prefix: str
    partitions: int
    lease_ms: int
    member: str
    interval_seconds: float = 0.5
    niceness: int = 10

    @classmethod
    def for_view(
        cls, store: FeatureStore, ref: str, /, *, settings: StreamSettings, member: str
    ) -> AppenderJob:
        """The job of a registered view version's consumer group (what ``parity stream
        append-offline`` runs)."""
        from parity.offline.aggregations import events_spec
        from parity.offline.base import ViewReadSpec
        from parity.registry import ObjectKind

        record = store.get_version(ref, kind=ObjectKind.FEATURE_VIEW)
        view = store.get_feature_view(f"{record.name}@v{record.version}")
        spec = ViewReadSpec.from_view(view, version=record.version, repo_root=store.repo_path)
        group = settings.group_for(store.project, record.name, record.version)
        return cls(
            raw_spec=events_spec(spec),
            quarantine_root=store.offline_path / "quarantine",
            coordination_url=settings.coordination_url,
            prefix=settings.coordination_prefix(group),
            partitions=settings.partitions,
            lease_ms=int(settings.lease_seconds * 1000),
            member=member,
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
    """Drains the spools of one consumer group into the view's Delta table.

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
        self.commits = 0
        # Per partition: the last sequence the Delta table holds (read at acquisition).
        self._done: dict[int, int] = {}
        self._schema: pa.Schema | None = None

    def app_id(self, partition: int) -> str:
        """The Delta application-transaction id of a partition's spool."""
        return f"{self.job.prefix}:{partition}"

    # --- lease -------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Hold (or renew) the group's appender lease; on taking it, read from the Delta
        table how far each spool is in it. True while this appender is the one working."""
        if self._done and self.coordinator.renew(APPENDER_LEASE, self.job.member):
            return True
        self._done = {}
        if not self.coordinator.try_lease(APPENDER_LEASE, self.job.member):
            return False
        self._done = self._table_sequences()
        return True

    def release(self) -> None:
        """Give the lease up (a clean exit)."""
        self.coordinator.release(APPENDER_LEASE, self.job.member)
        self._done = {}

    def _table_sequences(self) -> dict[int, int]:
        from deltalake import DeltaTable

        path = self.job.raw_spec.source.path
        if not DeltaTable.is_deltatable(path):
            return {p: 0 for p in range(self.job.partitions)}
        table = DeltaTable(path)
        return {
            p: table.transaction_version(self.app_id(p)) or 0 for p in range(self.job.partitions)
        }

    # --- work --------------------------------------------------------------------------

    def step(self) -> int:
        """Append what the spools hold (one Delta commit), then confirm it; returns how many
        spool entries were confirmed. Call only while :meth:`acquire` says so."""
        entries = self.coordinator.read_spools(self.job.partitions, count=_MAX_ENTRIES)
        if not entries:
            return 0
        fresh: list[tuple[int, int, dict[bytes, bytes]]] = []
        last: dict[int, int] = {}
        for partition, _, sequence, fields in entries:
            if sequence > self._done.get(partition, 0):
                fresh.append((partition, sequence, fields))
                last[partition] = max(last.get(partition, 0), sequence)
        rejected = [
            r for _, _, f in fresh if b"rejected" in f for r in orjson.loads(f[b"rejected"])
        ]
        if rejected:
            self._quarantine(rejected)
        rows = [orjson.loads(f[b"rows"]) for _, _, f in fresh if b"rows" in f]
        if last:
            self._append(rows, last)
            self._done.update(last)
        self.coordinator.confirm_spools(
            [(partition, entry_id) for partition, entry_id, _, _ in entries],
            {p: self._done[p] for p in {e[0] for e in entries}},
        )
        return len(entries)

    def _append(self, batches: list[dict[str, list[Any]]], last: dict[int, int]) -> None:
        """One Delta commit: the rows of every fresh entry and each partition's sequence."""
        import pyarrow as pa
        from deltalake import CommitProperties, Transaction, write_deltalake

        from parity.offline.delta_writes import table_schema

        spec = self.job.raw_spec
        if self._schema is None:
            self._schema = table_schema(spec)
        schema = self._schema
        ts = spec.source.timestamp_field
        created_field = spec.source.created_timestamp_field
        stamp = pa.timestamp("us", tz="UTC")
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        for batch in batches:
            n = len(batch[ts])
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
        table = pa.Table.from_arrays(arrays, schema=schema)
        Path(spec.source.path).mkdir(parents=True, exist_ok=True)
        write_deltalake(
            spec.source.path,
            table,
            mode="append",
            commit_properties=CommitProperties(
                app_transactions=[Transaction(self.app_id(p), s) for p, s in sorted(last.items())]
            ),
        )
        self.rows_appended += table.num_rows
        self.commits += 1

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
