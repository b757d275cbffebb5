"""Change data capture from MySQL and MariaDB through the row-format binlog.

The capture connects as a replica (``mysql-replication`` over ``pymysql``, imported only
when a capture is built) and reads the table's row events.

1. :meth:`MySQLCapture.check` refuses, before anything starts, a server without a binlog
   or whose ``binlog_format`` is not ``ROW`` (or ``binlog_row_image``,
   ``binlog_row_metadata`` not ``FULL``), a
   user without ``REPLICATION SLAVE``/``REPLICATION CLIENT``, a table without a primary
   key, and a capture name another source already owns in the ledger.
2. First start: a ``REPEATABLE READ`` transaction ``WITH CONSISTENT SNAPSHOT`` reads the
   table; MariaDB reports the binlog position of exactly that snapshot
   (``binlog_snapshot_file``/``binlog_snapshot_position``), MySQL gets it under a brief
   ``FLUSH TABLES WITH READ LOCK``. Streaming starts at that position: no gap, no
   duplicate. Snapshot rows are ``r`` events at the instant before the snapshot; a crash during
   the snapshot retakes it, and unchanged rows keep their ids (nothing doubles).
3. Checkpoints are binlog file/position pairs in the ledger, written after the transport
   accepted every change of the transactions before them; after a crash the capture
   resumes there and publishes the same changes with the same ids
   (``{file}:{end position}:{n}``).
4. Event times: the binlog stamps commits in whole seconds, so the capture makes them
   strictly increasing in commit order (``max(commit second, previous + 1 µs)``) and
   keeps the last one with the checkpoint: two updates of a row in one second keep their
   order, and a replay after a crash gives every change the same time again. A source
   that needs the exact instant names a ``timestamp_column``.
5. ``ALTER TABLE`` or ``TRUNCATE`` of the captured table stops the capture before any
   later change is published (never silent nulls).

Example:
    >>> capture = MySQLCapture(source, project="shop",  # doctest: +SKIP
    ...     settings=CaptureSettings(dsn="mysql://cdc:pw@127.0.0.1:3306/shop", stream="orders"))
    >>> capture.run(stop=threading.Event())  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import zlib
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from parity.cdc.base import (
    OP_DELETE,
    OP_INSERT,
    OP_SNAPSHOT,
    OP_UPDATE,
    CaptureLedger,
    ChangeEncoder,
    snapshot_event_id,
)
from parity.cdc.config import CaptureSettings
from parity.cdc.errors import (
    BinlogNotRowFormat,
    CaptureSetupError,
    ReplicationPrivilegeMissing,
    SlotOwnedElsewhere,
    TableWithoutPrimaryKey,
)
from parity.cdc.metrics import CaptureMetrics
from parity.cdc.postgres import SourceSchemaChanged, TruncateNotSupported
from parity.definitions.source import MySQLCDCSource
from parity.stream.base import StreamTransport
from parity.stream.publish import open_publisher


def json_value(value: Any) -> Any:
    """A binlog or query value as the JSON value of an event (one rule for both paths).

    Example:
        >>> json_value(Decimal("2.50")), json_value(dt.date(2026, 1, 2))
        (2.5, '2026-01-02')
    """
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _replica_connection(**options: Any) -> Any:
    """pymysql.connect with current argument names (the replication library still passes
    the deprecated ``db``/``passwd``, which warn)."""
    import pymysql

    for old, new in (("db", "database"), ("passwd", "password")):
        if old in options:
            options[new] = options.pop(old)
    return pymysql.connect(**options)


def _connection_settings(dsn: str) -> dict[str, Any]:
    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb"):
        raise CaptureSetupError(f"dsn {dsn!r}: expected mysql://user:password@host:port/database.")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


class MySQLCapture:
    """Captures one table's changes onto a stream (see the module docstring).

    Example:
        >>> MySQLCapture(source, project="shop", settings=settings).check()  # doctest: +SKIP
        ('order_id',)
    """

    def __init__(
        self,
        source: MySQLCDCSource,
        /,
        *,
        project: str,
        settings: CaptureSettings,
        transport: StreamTransport | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.name = settings.slot_for(project, source.name)
        self.owner = f"{project}/{source.name}"
        self.metrics = CaptureMetrics()
        self.streaming = threading.Event()
        self._transport = transport
        self._conn_settings = _connection_settings(settings.dsn)
        database = urlsplit(settings.dsn).path.lstrip("/")
        self.database = source.schema_name or database
        self.columns: tuple[str, ...] = ()
        self.primary_key: tuple[str, ...] = ()

    def _connect(self) -> Any:
        import pymysql

        s = self._conn_settings
        return pymysql.connect(
            host=s["host"],
            port=s["port"],
            user=s["user"],
            password=s["password"],
            database=self.database,
            autocommit=True,
        )

    def check(self) -> tuple[str, ...]:
        """Refuse, with the setting and the fix, anything that would break the capture;
        returns the primary key."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image")
                log_bin, binlog_format, row_image = cur.fetchone()
                if not log_bin or binlog_format != "ROW":
                    setting = (
                        "log_bin is off" if not log_bin else (f"binlog_format is {binlog_format!r}")
                    )
                    raise BinlogNotRowFormat(
                        f"{setting} on the server of source {self.source.name!r}; change data "
                        "capture reads row events. Start the server with --log-bin "
                        "--binlog-format=ROW --server-id=N (or SET GLOBAL binlog_format = "
                        "'ROW' and in my.cnf)."
                    )
                if row_image != "FULL":
                    raise BinlogNotRowFormat(
                        f"binlog_row_image is {row_image!r}; updates must carry every column. "
                        "Set binlog_row_image = FULL."
                    )
                cur.execute("SHOW VARIABLES LIKE 'binlog_row_metadata'")
                metadata = cur.fetchone()
                if metadata is not None and metadata[1] != "FULL":
                    # Row events name their columns only with full metadata.
                    raise BinlogNotRowFormat(
                        f"binlog_row_metadata is {metadata[1]!r}; row events must name their "
                        "columns. Set binlog_row_metadata = FULL (--binlog-row-metadata=FULL)."
                    )
                cur.execute("SHOW GRANTS")
                grants = " ".join(row[0] for row in cur.fetchall()).upper()
                if not re.search(r"ALL PRIVILEGES ON \*\.\*|REPLICATION (SLAVE|REPLICA)", grants):
                    user = self._conn_settings["user"]
                    raise ReplicationPrivilegeMissing(
                        f"user {user!r} may not read the binlog. Run GRANT REPLICATION SLAVE, "
                        f"REPLICATION CLIENT ON *.* TO '{user}'@'%' (and SELECT on the table)."
                    )
                cur.execute(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                    (self.database, self.source.table_name),
                )
                self.columns = tuple(r[0] for r in cur.fetchall())
                if not self.columns:
                    raise CaptureSetupError(
                        f"source {self.source.name!r}: table {self.database}."
                        f"{self.source.table_name} does not exist; check table= and the dsn."
                    )
                cur.execute(
                    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE "
                    "TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
                    "ORDER BY ORDINAL_POSITION",
                    (self.database, self.source.table_name),
                )
                self.primary_key = tuple(r[0] for r in cur.fetchall())
        finally:
            conn.close()
        table = f"{self.database}.{self.source.table_name}"
        if not self.primary_key:
            raise TableWithoutPrimaryKey(
                f"table {table} of source {self.source.name!r} has no primary key; an update "
                f"or delete could not name its row. Add one: ALTER TABLE {table} ADD PRIMARY "
                "KEY (...)."
            )
        keys = self.settings.key_columns
        if keys is not None and set(keys) != set(self.primary_key):
            raise CaptureSetupError(
                f"source {self.source.name!r}: key_columns {list(keys)} are not the primary "
                f"key {list(self.primary_key)} of {table}."
            )
        ledger = CaptureLedger(self.settings.coordination_url, self.name)
        try:
            owner = ledger.owner()
        finally:
            ledger.close()
        if owner is not None and owner != self.owner:
            raise SlotOwnedElsewhere(
                f"capture {self.name!r} belongs to source {owner!r}, not {self.owner!r}. "
                "Give this capture another name (slot= in its settings)."
            )
        return self.primary_key

    def _encoder(self) -> ChangeEncoder:
        return ChangeEncoder(
            timestamp_field=self.source.timestamp_field,
            key_columns=self.settings.key_columns or self.primary_key,
            partitions=self.settings.partitions,
            id_field=self.settings.id_field,
            timestamp_column=self.source.timestamp_column,
        )

    def run(self, *, stop: threading.Event, max_seconds: float | None = None) -> None:
        """Check, snapshot on the first start, then stream row events until ``stop``."""
        self.check()
        transport = self._transport or open_publisher(
            self.settings.transport, self.settings.url, stream=self.settings.stream
        )
        ledger = CaptureLedger(self.settings.coordination_url, self.name)
        try:
            encoder = self._encoder()
            position = ledger.position() if ledger.snapshot_done() else None
            if position is None:
                ledger.claim(self.owner)
                position = self._snapshot(encoder, transport)
                ledger.set_position(position)
                ledger.finish_snapshot(self.metrics.snapshot_rows)
            self._stream(position, encoder, transport, ledger, stop=stop, max_seconds=max_seconds)
        finally:
            self.streaming.clear()
            ledger.close()
            if self._transport is None:
                transport.close()

    def _snapshot(self, encoder: ChangeEncoder, transport: StreamTransport) -> str:
        import pymysql.cursors

        started = time.monotonic()
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)")
                (snapshot_us,) = cur.fetchone()
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                status = dict(cur.fetchall())
                if status.get("Binlog_snapshot_file"):  # MariaDB: the snapshot's position
                    file, pos = status["Binlog_snapshot_file"], status["Binlog_snapshot_position"]
                else:  # MySQL: hold writes while the snapshot and the position are taken
                    cur.execute("ROLLBACK")
                    cur.execute("FLUSH TABLES WITH READ LOCK")
                    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    cur.execute("SHOW MASTER STATUS")
                    file, pos = cur.fetchone()[:2]
                    cur.execute("UNLOCK TABLES")
            names = list(self.columns)
            rows = 0
            select = ", ".join(f"`{n}`" for n in names)
            with conn.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(f"SELECT {select} FROM `{self.database}`.`{self.source.table_name}`")
                while batch := cur.fetchmany(self.settings.snapshot_batch_rows):
                    by_partition: dict[int, list[bytes]] = {}
                    for values in batch:
                        row = {n: json_value(v) for n, v in zip(names, values, strict=True)}
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
        return f"{file}:{pos}:{snapshot_us}"

    def _stream(
        self,
        position: str,
        encoder: ChangeEncoder,
        transport: StreamTransport,
        ledger: CaptureLedger,
        *,
        stop: threading.Event,
        max_seconds: float | None,
    ) -> None:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import HeartbeatLogEvent, QueryEvent, XidEvent
        from pymysqlreplication.row_event import (
            DeleteRowsEvent,
            UpdateRowsEvent,
            WriteRowsEvent,
        )

        file, pos_text, last_text = position.rsplit(":", 2)
        last_us = int(last_text)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        reader = BinLogStreamReader(
            connection_settings=self._conn_settings,
            server_id=1000 + zlib.crc32(self.name.encode()) % 2**30,
            resume_stream=True,
            blocking=True,
            log_file=file,
            log_pos=int(pos_text),
            only_events=[
                WriteRowsEvent,
                UpdateRowsEvent,
                DeleteRowsEvent,
                XidEvent,
                QueryEvent,
                HeartbeatLogEvent,
            ],
            slave_heartbeat=0.2,
            # File/position checkpoints on both servers: the library's MariaDB mode starts
            # from GTIDs only and ignores log_file/log_pos.
            is_mariadb=False,
            pymysql_wrapper=_replica_connection,
        )
        table = self.source.table_name
        touches = re.compile(
            rf"^\s*(ALTER\s+TABLE|TRUNCATE(\s+TABLE)?|DROP\s+TABLE|RENAME\s+TABLE)\s+"
            rf"(`?{re.escape(self.database)}`?\.)?`?{re.escape(table)}`?\b",
            re.IGNORECASE,
        )
        pending: dict[int, list[bytes]] = {}
        pending_count = 0
        commits: list[int] = []
        row_events = (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)
        self.streaming.set()
        try:
            for event in reader:
                if isinstance(event, row_events):
                    if event.schema != self.database or event.table != table:
                        continue
                    commit_us = max(event.timestamp * 1_000_000, last_us + 1)
                    last_us = commit_us
                    op = (
                        OP_INSERT
                        if isinstance(event, WriteRowsEvent)
                        else OP_UPDATE
                        if isinstance(event, UpdateRowsEvent)
                        else OP_DELETE
                    )
                    for n, change in enumerate(event.rows):
                        values = change.get("after_values", change.get("values", {}))
                        row = {k: json_value(v) for k, v in values.items()}
                        if op == OP_DELETE:
                            row = {k: row[k] for k in encoder.key_columns}
                        partition, payload = encoder.encode(
                            op, row, f"{reader.log_file}:{event.packet.log_pos}:{n}", commit_us
                        )
                        pending.setdefault(partition, []).append(payload)
                        pending_count += 1
                        commits.append(event.timestamp * 1_000_000)
                        if op == OP_DELETE:
                            self.metrics.deletes_published += 1
                elif isinstance(event, QueryEvent):
                    query = event.query if isinstance(event.query, str) else str(event.query)
                    if touches.search(query):
                        kind = (
                            TruncateNotSupported
                            if "TRUNCATE" in query.upper()
                            else (SourceSchemaChanged)
                        )
                        raise kind(
                            f"{query.strip()[:80]!r} on {self.database}.{table} (source "
                            f"{self.source.name!r}): the capture stopped before any later "
                            "change. Declare a new view version for a new shape (or DELETE "
                            "rows instead of TRUNCATE), then start a new capture."
                        )
                elif isinstance(event, XidEvent):
                    self.metrics.transactions += 1
                    for partition, payloads in pending.items():
                        transport.publish(partition, payloads)
                    now_us = time.time_ns() // 1000
                    self.metrics.commit_to_publish_us.extend(now_us - c for c in commits)
                    self.metrics.changes_published += pending_count
                    self.metrics.publishes += 1 if pending else 0
                    pending, pending_count, commits = {}, 0, []
                    # Durable on the transport: only now does the checkpoint move past it.
                    checkpoint = f"{reader.log_file}:{reader.log_pos}:{last_us}"
                    ledger.set_position(checkpoint)
                    self.metrics.confirmed_position = checkpoint
                if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    break
        finally:
            reader.close()
