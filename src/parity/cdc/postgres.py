"""Change data capture from PostgreSQL through logical replication with ``pgoutput``.

Why ``pgoutput`` through psycopg2's ``LogicalReplicationConnection``: ``pgoutput`` is
built into PostgreSQL (10+) and is the plugin managed services (RDS, Cloud SQL, Azure)
always offer, so nothing is installed on the database server; ``wal2json`` would need a
package there (Debian's ``postgresql-15-wal2json``) and a JSON round trip per change.
psycopg 3 does not speak the replication protocol; psycopg2 does, so it is imported
here only, when a capture is built (``import parity`` never imports it).

What the capture guarantees:

1. Before anything starts, :meth:`PostgresCapture.check` refuses a ``wal_level`` other
   than ``logical``, a role without ``REPLICATION``, a table without a primary key, a
   naive ``timestamp`` column, and a slot or publication of the same name that parity
   did not create for this source (the ledger, :class:`~parity.cdc.base.CaptureLedger`,
   records which parity created).
2. First start: parity creates the publication ``{slot}`` for the table, then the slot
   with ``EXPORT_SNAPSHOT``, reads the table inside that exported snapshot (every row as
   an ``r`` event at the instant before the slot was created) and then streams from the
   slot's consistent point: the snapshot holds exactly the transactions committed before
   that point and the stream exactly those after it, so nothing is missed or doubled.
   A crash during the snapshot leaves the ledger at ``pending``; the next start drops the
   slot and takes a new snapshot, whose unchanged rows keep their ids
   (:func:`~parity.cdc.base.snapshot_event_id`): the processor applies each row once.
3. Changes are published per transaction, in commit order, onto the transport; the
   slot's flush position is confirmed (``send_feedback(flush_lsn=...)``) only after the
   transport accepted every change of the transactions up to it. After a crash the slot
   sends the unconfirmed transactions again with the same event ids
   (``{commit lsn}:{n}``), which the processor recognises as redeliveries.
4. Commit timestamps are the event times, unless the source names ``timestamp_column``.
5. A relation message that drops or retypes a captured column stops the capture with
   :class:`SourceSchemaChanged` before anything of the new shape is published (the
   transaction stays unconfirmed): never silent nulls. New columns are carried along.

Example:
    >>> capture = PostgresCapture(source, project="shop",  # doctest: +SKIP
    ...     settings=CaptureSettings(dsn="postgresql://cdc@127.0.0.1/shop", stream="orders"))
    >>> capture.run(stop=threading.Event())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parity.cdc.base import (
    OP_DELETE,
    OP_SNAPSHOT,
    CaptureLedger,
    ChangeEncoder,
    snapshot_event_id,
)
from parity.cdc.config import CaptureSettings
from parity.cdc.errors import (
    CaptureInterrupted,
    CaptureSetupError,
    LogicalReplicationOff,
    ReplicationPrivilegeMissing,
    SlotOwnedElsewhere,
    TableWithoutPrimaryKey,
)
from parity.cdc.metrics import CaptureMetrics
from parity.cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Column,
    Commit,
    Relation,
    RowChange,
    Truncate,
    converter_for,
    decode_message,
)
from parity.definitions.source import PostgresCDCSource
from parity.errors import ParityError, Terminal
from parity.stream.base import StreamTransport
from parity.stream.publish import open_publisher

if TYPE_CHECKING:
    from psycopg2.extensions import connection

_log = logging.getLogger("parity.cdc")


class SourceSchemaChanged(ParityError, Terminal):
    """A captured column was dropped or changed type while capturing."""


class TruncateNotSupported(ParityError, Terminal):
    """``TRUNCATE`` of a captured table: its rows cannot be retracted one by one."""


@dataclass(frozen=True)
class TableShape:
    """What :meth:`PostgresCapture.check` found: the table's columns and primary key."""

    oid: int
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def _lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


class PostgresCapture:
    """Captures one table's changes onto a stream (see the module docstring).

    Example:
        >>> PostgresCapture(source, project="shop", settings=settings).check()  # doctest: +SKIP
        TableShape(oid=16385, columns=(...), primary_key=('order_id',))
    """

    def __init__(
        self,
        source: PostgresCDCSource,
        /,
        *,
        project: str,
        settings: CaptureSettings,
        transport: StreamTransport | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.slot = settings.slot_for(project, source.name)
        self.owner = f"{project}/{source.name}"
        self.metrics = CaptureMetrics()
        # Set once the snapshot is published and changes stream (readiness).
        self.streaming = threading.Event()
        self._transport = transport
        self._schema = source.schema_name or "public"
        self._shape: TableShape | None = None

    # --- checks ------------------------------------------------------------------------

    def _connect(self) -> connection:
        import psycopg2

        conn = psycopg2.connect(self.settings.dsn)
        conn.autocommit = True
        return conn

    def check(self) -> TableShape:
        """Refuse, with the setting and the fix, anything that would break the capture."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW wal_level")
                (wal_level,) = cur.fetchone() or ("?",)
                if wal_level != "logical":
                    raise LogicalReplicationOff(
                        f"wal_level is {wal_level!r} on the database of source "
                        f"{self.source.name!r}; logical replication needs wal_level = logical. "
                        "Run ALTER SYSTEM SET wal_level = logical (and max_replication_slots, "
                        "max_wal_senders >= 1), then restart PostgreSQL."
                    )
                cur.execute(
                    "SELECT current_user, rolreplication OR rolsuper FROM pg_roles "
                    "WHERE rolname = current_user"
                )
                user, may_replicate = cur.fetchone() or ("?", False)
                if not may_replicate:
                    raise ReplicationPrivilegeMissing(
                        f"role {user!r} may not replicate: it lacks the REPLICATION attribute. "
                        f"Run ALTER ROLE {user} REPLICATION as a superuser, or give the "
                        "capture's dsn a role that has it."
                    )
                shape = self._table_shape(cur)
                self._check_ownership(cur)
        finally:
            conn.close()
        self._shape = shape
        return shape

    def _table_shape(self, cur: Any) -> TableShape:
        cur.execute(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (self._schema, self.source.table_name),
        )
        found = cur.fetchone()
        if found is None:
            raise CaptureSetupError(
                f"source {self.source.name!r}: table {self._schema}.{self.source.table_name} "
                "does not exist in the capture's database; check table= and the dsn."
            )
        (oid,) = found
        cur.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (oid,),
        )
        rows = cur.fetchall()
        cur.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (oid,),
        )
        primary_key = tuple(name for (name,) in cur.fetchall())
        table = f"{self._schema}.{self.source.table_name}"
        if not primary_key:
            raise TableWithoutPrimaryKey(
                f"table {table} of source {self.source.name!r} has no primary key; an update "
                "or delete could not name its row. Add one: ALTER TABLE "
                f"{table} ADD PRIMARY KEY (...)."
            )
        columns = tuple(Column(name, type_oid, name in primary_key) for name, type_oid in rows)
        for column in columns:
            converter_for(column, table=table)
        keys = self.settings.key_columns
        if keys is not None and set(keys) != set(primary_key):
            raise CaptureSetupError(
                f"source {self.source.name!r}: key_columns {list(keys)} are not the primary "
                f"key {list(primary_key)} of {table}; a view fed by change data capture is "
                "keyed on the table's primary key (a delete names only that)."
            )
        return TableShape(oid, columns, primary_key)

    def _check_ownership(self, cur: Any) -> None:
        cur.execute(
            "SELECT plugin, database, current_database() FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (self.slot,),
        )
        slot = cur.fetchone()
        cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.slot,))
        publication = cur.fetchone() is not None
        if slot is None and not publication:
            return
        ledger = CaptureLedger(self.settings.coordination_url, self.slot)
        try:
            owner = ledger.owner()
        finally:
            ledger.close()
        what = "replication slot" if slot is not None else "publication"
        if owner != self.owner or (
            slot is not None and (slot[0] != "pgoutput" or slot[1] != slot[2])
        ):
            raise SlotOwnedElsewhere(
                f"{what} {self.slot!r} already exists"
                + (f" (plugin {slot[0]!r}, database {slot[1]!r})" if slot is not None else "")
                + f" and parity did not create it for source {self.owner!r}"
                + (f" (the ledger names {owner!r})" if owner else "")
                + ". Give the capture another slot name (slot= in its settings) or, if it is "
                f"abandoned, drop it: SELECT pg_drop_replication_slot('{self.slot}'); "
                f"DROP PUBLICATION IF EXISTS {self.slot}."
            )

    # --- setup -------------------------------------------------------------------------

    def drop(self) -> None:
        """Drop the slot, the publication and the ledger record (the source is retired)."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = %s",
                    (self.slot,),
                )
                cur.execute(f'DROP PUBLICATION IF EXISTS "{self.slot}"')
        finally:
            conn.close()
        ledger = CaptureLedger(self.settings.coordination_url, self.slot)
        ledger.forget()
        ledger.close()

    def _slot_exists(self) -> bool:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    def _ensure_publication(self) -> None:
        from psycopg2 import sql

        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.slot,))
                if cur.fetchone() is None:
                    cur.execute(
                        sql.SQL("CREATE PUBLICATION {} FOR TABLE {}.{}").format(
                            sql.Identifier(self.slot),
                            sql.Identifier(self._schema),
                            sql.Identifier(self.source.table_name),
                        )
                    )
        finally:
            conn.close()

    # --- the run -------------------------------------------------------------------------

    def run(self, *, stop: threading.Event, max_seconds: float | None = None) -> None:
        """Check, set up (first start: snapshot), then stream changes until ``stop``."""
        import psycopg2
        from psycopg2.extras import LogicalReplicationConnection

        shape = self._shape or self.check()
        transport = self._transport or open_publisher(
            self.settings.transport, self.settings.url, stream=self.settings.stream
        )
        ledger = CaptureLedger(self.settings.coordination_url, self.slot)
        repl = psycopg2.connect(self.settings.dsn, connection_factory=LogicalReplicationConnection)
        try:
            cur = repl.cursor()
            encoder = self._encoder(shape)
            if self._slot_exists() and not ledger.snapshot_done():
                # A crash during the initial snapshot: its exported snapshot is gone with
                # the connection that held it; take a new one.
                cur.execute(f'DROP_REPLICATION_SLOT "{self.slot}"')
            if not self._slot_exists():
                ledger.claim(self.owner)
                self._ensure_publication()
                before_us = self._clock_us()
                cur.execute(
                    f'CREATE_REPLICATION_SLOT "{self.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT'
                )
                _slot, consistent_point, snapshot, _plugin = cur.fetchone()
                rows = self._copy_snapshot(
                    shape, snapshot, consistent_point, before_us, encoder, transport
                )
                ledger.finish_snapshot(rows)
            cur.start_replication(
                slot_name=self.slot,
                decode=False,
                options={"proto_version": "1", "publication_names": self.slot},
                status_interval=self.settings.status_interval_seconds,
            )
            self.streaming.set()
            self._stream(cur, shape, encoder, transport, stop=stop, max_seconds=max_seconds)
        except psycopg2.OperationalError as exc:
            raise CaptureInterrupted(
                f"source {self.source.name!r}: the replication connection failed ({exc}); "
                "restart the capture: it resumes from the confirmed position."
            ) from exc
        finally:
            self.streaming.clear()
            repl.close()
            ledger.close()
            if self._transport is None:
                transport.close()

    def _encoder(self, shape: TableShape) -> ChangeEncoder:
        return ChangeEncoder(
            timestamp_field=self.source.timestamp_field,
            key_columns=self.settings.key_columns or shape.primary_key,
            partitions=self.settings.partitions,
            id_field=self.settings.id_field,
            timestamp_column=self.source.timestamp_column,
        )

    def _clock_us(self) -> int:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
                row = cur.fetchone()
                assert row is not None
                return int(row[0])
        finally:
            conn.close()

    def _copy_snapshot(
        self,
        shape: TableShape,
        snapshot: str,
        consistent_point: str,
        snapshot_us: int,
        encoder: ChangeEncoder,
        transport: StreamTransport,
    ) -> int:
        """Publish every row of the exported snapshot as an ``r`` event at ``snapshot_us``
        (the instant before the slot existed: no streamed commit is older)."""
        import psycopg2
        from psycopg2 import sql

        started = time.monotonic()
        table = f"{self._schema}.{self.source.table_name}"
        names = [c.name for c in shape.columns]
        converters = [converter_for(c, table=table) for c in shape.columns]
        conn = psycopg2.connect(self.settings.dsn)
        rows = 0
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
                cur.execute("SET LOCAL TIME ZONE 'UTC'")
            # Text, like pgoutput sends: one converter per column for both paths.
            query = sql.SQL("SELECT {} FROM {}.{}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(n)) for n in names),
                sql.Identifier(self._schema),
                sql.Identifier(self.source.table_name),
            )
            with conn.cursor(name="parity_snapshot") as cur:
                cur.itersize = self.settings.snapshot_batch_rows
                cur.execute(query)
                while True:
                    batch = cur.fetchmany(self.settings.snapshot_batch_rows)
                    if not batch:
                        break
                    by_partition: dict[int, list[bytes]] = {}
                    for values in batch:
                        row = {
                            n: (None if v is None else c(v))
                            for n, c, v in zip(names, converters, values, strict=True)
                        }
                        key = ":".join(str(row[k]) for k in encoder.key_columns)
                        partition, payload = encoder.encode(
                            OP_SNAPSHOT, row, snapshot_event_id(key, row), snapshot_us
                        )
                        by_partition.setdefault(partition, []).append(payload)
                    for partition, payloads in by_partition.items():
                        transport.publish(partition, payloads)
                    rows += len(batch)
                    self.metrics.snapshot_rows = rows
            conn.commit()
        finally:
            conn.close()
        self.metrics.snapshot_seconds = time.monotonic() - started
        return rows

    def _stream(
        self,
        cur: Any,
        shape: TableShape,
        encoder: ChangeEncoder,
        transport: StreamTransport,
        *,
        stop: threading.Event,
        max_seconds: float | None,
    ) -> None:
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        table = f"{self._schema}.{self.source.table_name}"
        expected = {c.name: c.type_oid for c in shape.columns}
        plan: dict[int, tuple[list[str], list[Callable[[str], Any]]]] = {}
        pending: dict[int, list[bytes]] = {}
        pending_count = 0
        pending_commits: list[int] = []
        confirmed = 0
        commit_us = 0
        final_lsn = 0
        seq = 0
        next_status = 0.0
        lag_conn = self._connect()

        def flush(end_lsn: int) -> None:
            nonlocal pending, pending_count, pending_commits, confirmed
            for partition, payloads in pending.items():
                transport.publish(partition, payloads)
            published_us = time.time_ns() // 1000
            self.metrics.publishes += 1 if pending else 0
            self.metrics.changes_published += pending_count
            self.metrics.commit_to_publish_us.extend(published_us - c for c in pending_commits)
            pending, pending_count, pending_commits = {}, 0, []
            # Durable on the transport: only now may the database forget these changes.
            cur.send_feedback(flush_lsn=end_lsn, write_lsn=end_lsn, force=True)
            confirmed = end_lsn
            self.metrics.confirmed_position = _lsn_text(end_lsn)

        last_end = 0
        in_transaction = False
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                message = cur.read_message()
                if message is None:
                    if last_end > confirmed:
                        flush(last_end)
                    elif not in_transaction and not pending_count and cur.wal_end > confirmed:
                        # Every message up to the server's position is handled: confirm
                        # it, or WAL of other tables and databases piles up in the slot.
                        flush(cur.wal_end)
                    if time.monotonic() >= next_status:
                        next_status = time.monotonic() + self.settings.status_interval_seconds
                        # Ask for a keepalive: it carries the server's current position.
                        cur.send_feedback(flush_lsn=confirmed, write_lsn=confirmed, reply=True)
                        self._read_lag(lag_conn)
                    select.select([cur.connection], [], [], 0.05)
                    continue
                decoded = decode_message(message.payload)
                if isinstance(decoded, Begin):
                    commit_us, final_lsn, seq = decoded.commit_us, decoded.final_lsn, 0
                    in_transaction = True
                elif isinstance(decoded, RowChange):
                    names, converters = plan[decoded.relation_oid]
                    row: dict[str, Any] = {}
                    for name, convert, value in zip(names, converters, decoded.values, strict=True):
                        if value is not None and value is not UNCHANGED:
                            row[name] = convert(value)
                        elif value is None and decoded.op != OP_DELETE:
                            row[name] = None
                    partition, payload = encoder.encode(
                        decoded.op, row, f"{_lsn_text(final_lsn)}:{seq}", commit_us
                    )
                    seq += 1
                    pending.setdefault(partition, []).append(payload)
                    pending_count += 1
                    pending_commits.append(commit_us)
                    if decoded.op == OP_DELETE:
                        self.metrics.deletes_published += 1
                elif isinstance(decoded, Commit):
                    in_transaction = False
                    self.metrics.transactions += 1
                    last_end = decoded.end_lsn
                    if pending_count >= self.settings.batch_size:
                        flush(last_end)
                elif isinstance(decoded, Relation):
                    plan[decoded.oid] = self._relation_plan(decoded, expected, table)
                elif isinstance(decoded, Truncate):
                    raise TruncateNotSupported(
                        f"TRUNCATE of {table} (source {self.source.name!r}): its rows cannot be "
                        "retracted one by one. Delete them with DELETE instead; the capture "
                        "stops before the truncate, which stays unconfirmed."
                    )
            if last_end > confirmed:
                flush(last_end)
        finally:
            lag_conn.close()

    def _relation_plan(
        self, relation: Relation, expected: dict[str, int], table: str
    ) -> tuple[list[str], list[Callable[[str], Any]]]:
        now = {c.name: c.type_oid for c in relation.columns}
        dropped = sorted(set(expected) - set(now))
        retyped = sorted(n for n in expected if n in now and now[n] != expected[n])
        if dropped or retyped:
            raise SourceSchemaChanged(
                f"the schema of {table} (source {self.source.name!r}) changed while capturing: "
                f"dropped {dropped}, changed type {retyped}. The capture stopped before any "
                "change of the new shape; declare a new view version for the new columns, "
                "then drop this source's slot (PostgresCapture.drop) and start again."
            )
        return (
            [c.name for c in relation.columns],
            [converter_for(c, table=table) for c in relation.columns],
        )

    def _read_lag(self, conn: connection) -> None:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (self.slot,),
            )
            row = cur.fetchone()
        lag = int(row[0]) if row is not None and row[0] is not None else 0
        self.metrics.slot_lag_bytes = lag
        if lag > self.settings.max_slot_lag_bytes:
            self.metrics.slot_lag_alerts += 1
            _log.warning(
                "slot %s of source %s holds %d bytes of WAL (max_slot_lag_bytes %d): the "
                "capture is behind and the database keeps WAL on disk until it catches up",
                self.slot,
                self.source.name,
                lag,
                self.settings.max_slot_lag_bytes,
            )
