"""The request log's writer process: JSON frames on stdin, Parquet files under the log root.

Run by :class:`parity.serve.request_log.RequestLog` as ``python .../log_writer.py ROOT
FLUSH_SECONDS FLUSH_ROWS`` (by path: it imports orjson and pyarrow, not parity), one per
server worker, at nice
10 and in its own session (Ctrl-C reaches the server, which closes the pipe; the writer
then writes what it holds and exits). Converting served vectors to Arrow and Parquet
here, in another process, keeps that work off the server's interpreter lock entirely.

A frame is a 4-byte big-endian length and an orjson array: ``[request_id, view_versions,
served_at, service, service_version, join_keys, feature_names, entity_rows, values,
statuses, event_timestamps, sample_weight]``, with times as RFC 3339 strings; an empty
frame is a tick (the server sends one every 250 ms, so time-based flushes happen when no
request comes).

Example:
    >>> frame = encode_frame(["r1", ["v@v1"], "2026-01-01T00:00:00Z", None, None, ["id"],
    ...                       ["x"], [{"id": 1}], [[1.5]], ["present"], [[None]], 1.0])
    >>> len(frame) > 4
    True
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

logger = logging.getLogger("parity.serve.log_writer")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NICE = 10
TICK = b"\x00\x00\x00\x00"
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


def request_log_schema() -> Any:
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


def encode_frame(entry: list[Any]) -> bytes:
    """One length-prefixed frame (what the server writes to the pipe)."""
    body = orjson.dumps(entry, default=_json_default, option=orjson.OPT_UTC_Z)
    return len(body).to_bytes(4, "big") + body


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _frames(stream: IO[bytes]) -> Iterator[list[Any]]:
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return
        size = int.from_bytes(head, "big")
        # An empty frame is a tick: the server's clock for time-based flushes.
        yield orjson.loads(stream.read(size)) if size else []


class _Columns:
    """Log rows accumulated per UTC day, as plain column lists."""

    def __init__(self) -> None:
        self.days: dict[str, dict[str, list[Any]]] = {}
        self.rows = 0
        self._micros: dict[str | None, int | None] = {None: None}

    def _us(self, stamp: str | None) -> int | None:
        value = self._micros.get(stamp, -1)
        if value == -1:
            assert stamp is not None
            value = (datetime.fromisoformat(stamp) - _EPOCH) // _MICROSECOND
            if len(self._micros) > 100_000:
                self._micros = {None: None}
            self._micros[stamp] = value
        return value

    def add(self, frame: list[Any]) -> None:
        (request_id, views, served, service, version, keys, names, rows, values, statuses,
         stamps, weight) = frame  # fmt: skip
        day = served[:10]
        cols = self.days.get(day)
        if cols is None:
            cols = self.days[day] = {name: [] for name in _NAMES}
        n = len(values)
        cols["request_id"] += [request_id] * n
        cols["served_at"] += [self._us(served)] * n
        cols["service"] += [service] * n
        cols["service_version"] += [version] * n
        cols["view_versions"] += [views] * n
        cols["row_index"] += range(n)
        cols["entity_key"] += [orjson.dumps({k: row.get(k) for k in keys}) for row in rows]
        cols["feature_names"] += [names] * n
        cols["values"] += [orjson.dumps(v) for v in values]
        cols["statuses"] += statuses
        cols["event_timestamps"] += [[self._us(s) for s in row] for row in stamps]
        cols["sample_weight"] += [weight] * n
        self.rows += n

    def write(self, root: Path) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = request_log_schema()
        written = 0
        for day, cols in self.days.items():
            arrays = [_array(cols[f.name], f) for f in schema]
            table = pa.Table.from_arrays(arrays, schema=schema)
            folder = root / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            name = f"part-{stamp}-{os.getppid()}-{uuid.uuid4().hex[:8]}.parquet"
            temporary = folder / f".{name}.tmp"
            pq.write_table(table, temporary)
            temporary.rename(folder / name)
            written += table.num_rows
        self.days = {}
        self.rows = 0
        return written


def _array(values: list[Any], field: Any) -> Any:
    import pyarrow as pa

    kind = field.type
    if pa.types.is_timestamp(kind):
        return pa.array(values, pa.int64()).cast(kind)
    if pa.types.is_list(kind) and pa.types.is_timestamp(kind.value_type):
        return pa.array(values, pa.list_(pa.int64())).cast(kind)
    return pa.array(values, type=kind)


def run(root: Path, flush_seconds: float, flush_rows: int, stream: IO[bytes]) -> None:
    """Read frames until end of input, writing a file per ``flush_seconds``/``flush_rows``."""
    columns = _Columns()
    last = time.monotonic()
    for frame in _frames(stream):
        if frame:
            columns.add(frame)
        if columns.rows >= flush_rows or time.monotonic() - last >= flush_seconds:
            _write(columns, root)
            last = time.monotonic()
    _write(columns, root)


def _write(columns: _Columns, root: Path) -> None:
    if not columns.rows:
        return
    rows = columns.rows
    try:
        columns.write(root)
    except Exception:  # a failed file must not stop the log: report it and go on
        logger.exception("request log: writing %d rows to %s failed", rows, root)
        columns.days, columns.rows = {}, 0


def main() -> None:
    """Entry point of the writer process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with_nice = getattr(os, "nice", None)
    if with_nice is not None:
        with_nice(_NICE)
    root, flush_seconds, flush_rows = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    logging.basicConfig(level=logging.WARNING)
    run(root, flush_seconds, flush_rows, sys.stdin.buffer)


if __name__ == "__main__":
    main()
