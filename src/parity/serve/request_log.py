"""The request log: every served vector, appended to Parquet under the offline store.

The handler only appends a reference to the response to an in-memory queue (no copy, no
encoding); a background thread turns batches into Arrow tables and writes one Parquet
file per flush into ``<offline path>/request_log/date=YYYY-MM-DD/`` (written to a
temporary name, then renamed, so readers never see a partial file). Memory is bounded:
above half of ``max_pending_rows`` only a random sample of requests is kept (each kept
row carries ``sample_weight`` = 1 / sampling rate), at the bound new rows are dropped;
both are counted in ``/metrics``. Closing flushes everything still queued.

One row per served entity row; the schema is documented in ``docs/serving.md``.

Example:
    >>> log = RequestLog(Path("rl"), RequestLogConfig(), ServerMetrics())  # doctest: +SKIP
    >>> log.record(response, request_id="r1", view_versions=("user_stats@v1",))  # doctest: +SKIP
    >>> log.close()  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from parity.serve.config import RequestLogConfig
from parity.serve.metrics import ServerMetrics
from parity.serve.vectors import OnlineResponse

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger("parity.serve")

# (request id, view versions, response, sample weight)
_Entry = tuple[str, tuple[str, ...], OnlineResponse, float]


def request_log_schema() -> pa.Schema:
    """The Arrow schema of the request log files.

    Example:
        >>> request_log_schema().names[:3]
        ['request_id', 'served_at', 'service']
    """
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            pa.field("request_id", pa.string(), nullable=False),
            pa.field("served_at", ts, nullable=False),
            pa.field("service", pa.string()),
            pa.field("service_version", pa.int32()),
            pa.field("view_versions", pa.list_(pa.string())),
            pa.field("row_index", pa.int32(), nullable=False),
            pa.field("entity_key", pa.string(), nullable=False),
            pa.field("feature_names", pa.list_(pa.string())),
            pa.field("values", pa.string()),
            pa.field("statuses", pa.list_(pa.string())),
            pa.field("event_timestamps", pa.list_(ts)),
            pa.field("sample_weight", pa.float64(), nullable=False),
        ]
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CHUNK = 16  # requests converted between two GIL hand-offs (about 0.2 ms)
_YIELD_SECONDS = 0.0005
_NICE = 10
_CONVERT_SECONDS = 0.25
_NAMES = (
    "request_id",
    "served_at",
    "service",
    "service_version",
    "view_versions",
    "row_index",
    "entity_key",
    "feature_names",
    "values",
    "statuses",
    "event_timestamps",
    "sample_weight",
)


def _columns(entries: list[_Entry]) -> dict[str, dict[str, list[Any]]]:
    """The log columns of ``entries``, per UTC day of serving.

    Values and entity keys become JSON bytes (Arrow takes them as strings without a
    decode); statuses are ``str`` subclasses Arrow takes as they are; times become UTC
    microseconds (converting datetimes one by one is most of the cost otherwise), cached
    per instant since the values of one view row share theirs.
    """
    by_day: dict[str, dict[str, list[Any]]] = {}
    dumps = orjson.dumps
    utc_z = orjson.OPT_UTC_Z
    micros: dict[datetime | None, int | None] = {None: None}
    for request_id, views, response, weight in entries:
        served = response.served_at
        day = served.strftime("%Y-%m-%d")  # served_at is UTC
        cols = by_day.get(day)
        if cols is None:
            cols = by_day[day] = {name: [] for name in _NAMES}
        keys = response.join_keys
        n = len(response.values)
        cols["request_id"] += [request_id] * n
        cols["served_at"] += [(served - _EPOCH) // _MICROSECOND] * n
        cols["service"] += [response.service] * n
        cols["service_version"] += [response.service_version] * n
        cols["view_versions"] += [list(views)] * n
        cols["row_index"] += range(n)
        cols["entity_key"] += [
            dumps({k: row.get(k) for k in keys}, default=_json_default)
            for row in response.entity_rows
        ]
        cols["feature_names"] += [list(response.feature_names)] * n
        cols["values"] += [
            dumps(values, default=_json_default, option=utc_z) for values in response.values
        ]
        cols["statuses"] += response.statuses
        stamps_column = cols["event_timestamps"]
        for stamps in response.event_timestamps:
            row_micros = []
            for stamp in stamps:
                value = micros.get(stamp, -1)
                if value == -1:
                    assert stamp is not None
                    value = micros[stamp] = (stamp - _EPOCH) // _MICROSECOND
                row_micros.append(value)
            stamps_column.append(row_micros)
        cols["sample_weight"] += [weight] * n
    return by_day


def _array(values: list[Any], field: pa.Field) -> pa.Array:
    import pyarrow as pa

    kind = field.type
    if pa.types.is_timestamp(kind):
        return pa.array(values, pa.int64()).cast(kind)
    if pa.types.is_list(kind) and pa.types.is_timestamp(kind.value_type):
        return pa.array(values, pa.list_(pa.int64())).cast(kind)
    return pa.array(values, type=kind)


def _lower_priority() -> None:
    """Run this thread at nice 10: when the CPUs are saturated, requests go first.

    On Linux the priority of a thread id is the thread's own. If the writer then falls
    behind, the queue grows and the log samples (and counts what it drops) instead of
    slowing requests down.
    """
    # Not Linux, or not permitted: the thread keeps the process's priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICE)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialize {type(value).__name__}")


class RequestLog:
    """A bounded queue of served vectors and the thread that writes it out.

    The thread converts the queue to Arrow every quarter second (Arrow buffers are not
    tracked by Python's garbage collector, queued responses are: a long queue would make
    every full collection, and so some requests, slow) and writes a file per
    ``flush_interval_seconds`` or ``flush_rows``.

    Example:
        >>> RequestLog(Path("/tmp/rl"), RequestLogConfig(), ServerMetrics()).pending
        0
    """

    def __init__(self, root: Path, config: RequestLogConfig, metrics: ServerMetrics) -> None:
        self.root = root
        self._config = config
        self._metrics = metrics
        self._queue: collections.deque[_Entry] = collections.deque()
        # Each counter is written by one thread only, so no update is ever lost.
        self._queued = 0  # rows ever queued (event loop)
        self._taken = 0  # rows ever taken off the queue (writer)
        self._done = 0  # rows ever written or failed (writer)
        self._buffer: dict[str, list[pa.Table]] = {}
        self._half = config.max_pending_rows // 2
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._convert_every = min(_CONVERT_SECONDS, config.flush_interval_seconds)

    @property
    def pending(self) -> int:
        """Rows queued or converted and not yet written."""
        return self._queued - self._done

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="parity-request-log", daemon=True)
        self._thread.start()

    def record(
        self, response: OnlineResponse, *, request_id: str, view_versions: tuple[str, ...]
    ) -> None:
        """Queue one served response (hot path: constant time, no encoding)."""
        rows = len(response.values)
        pending = self._queued - self._done
        weight = 1.0
        if pending + rows > self._config.max_pending_rows:
            self._metrics.log_dropped.labels("over_memory_bound").inc(rows)
            return
        if pending > self._half:
            # Linear from 1 (at half the bound) to 0 (at the bound).
            rate = (self._config.max_pending_rows - pending) / (
                self._config.max_pending_rows - self._half
            )
            self._metrics.log_sample_rate.set(rate)
            if self._random.random() >= rate:
                self._metrics.log_dropped.labels("sampled_out").inc(rows)
                return
            weight = 1.0 / rate
        self._queue.append((request_id, view_versions, response, weight))
        self._queued += rows

    def _run(self) -> None:
        _lower_priority()
        last_write = time.monotonic()
        while not self._stopping:
            self._wake.wait(self._convert_every)
            self._wake.clear()
            with self._lock:
                self._convert()
                due = time.monotonic() - last_write >= self._config.flush_interval_seconds
                if due or self._taken - self._done >= self._config.flush_rows:
                    self._write_buffer()
                    last_write = time.monotonic()

    def flush(self) -> int:
        """Convert and write everything queued now; returns the rows written."""
        with self._lock:
            self._convert()
            return self._write_buffer()

    def _convert(self) -> None:
        import pyarrow as pa

        schema = request_log_schema()
        while self._queue:
            entries: list[_Entry] = []
            while self._queue and len(entries) < _CHUNK:
                entries.append(self._queue.popleft())
            for day, cols in _columns(entries).items():
                arrays = [_array(cols[f.name], f) for f in schema]
                # from_arrays: three times faster than pa.table(mapping, schema=...) here.
                table = pa.Table.from_arrays(arrays, schema=schema)
                self._buffer.setdefault(day, []).append(table)
            self._taken += sum(len(e[2].values) for e in entries)
            # Hand the GIL to the event loop between chunks. A real (short) sleep, not
            # sleep(0): after sleep(0) this thread usually takes the GIL straight back and
            # a waiting request waits for the interpreter's 5 ms switch interval.
            time.sleep(_YIELD_SECONDS)

    def _write_buffer(self) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = self._taken - self._done
        buffer, self._buffer = self._buffer, {}
        try:
            for day, tables in buffer.items():
                folder = self.root / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
                name = f"part-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
                temporary = folder / f".{name}.tmp"
                pq.write_table(pa.concat_tables(tables), temporary)
                temporary.rename(folder / name)
        except Exception:
            logger.exception("request log: writing %d rows to %s failed", rows, self.root)
            self._metrics.log_dropped.labels("write_error").inc(rows)
            rows = 0
        else:
            self._metrics.log_rows.inc(rows)
        self._done = self._taken
        pending = self._queued - self._done
        self._metrics.log_pending.set(pending)
        if pending <= self._half:
            self._metrics.log_sample_rate.set(1.0)
        return rows

    def close(self) -> None:
        """Stop the writer and flush what is still queued (graceful shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
