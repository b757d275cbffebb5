"""The request log's writer process: frames on stdin, typed Parquet files under the log root.

Run by :class:`parity.serve.request_log.RequestLog` as ``python .../log_writer.py ROOT
FLUSH_SECONDS FLUSH_ROWS`` (by path: it imports orjson, numpy and pyarrow, not parity), one
per server worker, at nice 10 and in its own session (Ctrl-C reaches the server, which
closes the pipe; the writer then writes what it holds and exits). Turning served vectors
into typed Arrow columns and Parquet here, in another process, keeps that work off the
server's interpreter lock entirely.

A frame is a 4-byte big-endian length and an orjson body; an empty frame is a tick (the
server sends one every 250 ms, so time-based flushes happen when no request comes):

- a layout (a JSON object, sent once per layout to each writer process): ``{"id", "dir",
  "schema"`` (the Arrow schema, IPC-serialized, base64), ``"keys"`` (join key names),
  ``"statuses"`` (status spellings in code order), ``"service"``, ``"service_version"``
  ``}``; see :mod:`parity.monitor.log_layout`;
- a request (a JSON array): ``[layout_id, request_id, served_at, entity_rows, values,
  statuses, event_timestamps, sample_weight, prediction]`` with times as RFC 3339
  strings, bytes as base64, ``event_timestamps`` per row one per event-time group of the
  layout (a view version read, or a row-transform output), and ``prediction`` null or
  ``[model, version, role, scores]``.

Each layout's rows go to ``ROOT/<dir>/date=YYYY-MM-DD/part-*.parquet`` (written under a
temporary name, then renamed), one file per layout and day per flush.

Example:
    >>> frame = encode_frame([0, "r1", "2026-01-01T00:00:00Z", [{"id": 1}], [[1.5]],
    ...                       [["present"]], [[None]], 1.0, None])
    >>> len(frame) > 4
    True
"""

from __future__ import annotations

import base64
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


def encode_frame(entry: Any) -> bytes:
    """One length-prefixed frame (what the server writes to the pipe)."""
    body = orjson.dumps(entry, default=_json_default, option=orjson.OPT_UTC_Z)
    return len(body).to_bytes(4, "big") + body


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _frames(stream: IO[bytes]) -> Iterator[Any]:
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return
        size = int.from_bytes(head, "big")
        # An empty frame is a tick: the server's clock for time-based flushes.
        yield orjson.loads(stream.read(size)) if size else None


class _Micros:
    """RFC 3339 text -> integer microseconds since the epoch, with a bounded cache."""

    def __init__(self) -> None:
        self._cache: dict[str | None, int | None] = {None: None}

    def __call__(self, stamp: str | None) -> int | None:
        value = self._cache.get(stamp, -1)
        if value == -1:
            assert stamp is not None
            value = (datetime.fromisoformat(stamp) - _EPOCH) // _MICROSECOND
            if len(self._cache) > 100_000:
                self._cache = {None: None}
            self._cache[stamp] = value
        return value


class _Layout:
    """What the writer knows of one layout: its schema and how to read a request frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        import pyarrow as pa

        self.folder = str(frame["dir"])
        self.schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(frame["schema"])))
        self.keys = tuple(frame["keys"])
        groups = self.schema.field("event_timestamps").type
        self.groups = 0 if pa.types.is_null(groups.field(0).type) else groups.num_fields
        self.dictionary = pa.array(frame["statuses"], pa.string())
        self.codes = {status: code for code, status in enumerate(frame["statuses"])}
        self.prediction = "prediction" in self.schema.names
        features = self.schema.field("features").type
        self.width = 0 if pa.types.is_null(features.field(0).type) else features.num_fields


class _Batch:
    """One layout's rows of one UTC day, as plain column lists."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.request_id: list[str] = []
        self.row_index: list[int] = []
        self.served_at: list[int | None] = []
        self.service: list[str | None] = []
        self.service_version: list[int | None] = []
        self.weight: list[float] = []
        self.keys: list[list[Any]] = [[] for _ in layout.keys]
        self.values: list[list[Any]] = []
        self.patterns: dict[tuple[str, ...], int] = {}
        self.codes: list[list[int]] = []
        self.pattern_ids: list[int] = []
        self.stamps: list[list[int | None]] = [[] for _ in range(layout.groups)]
        self.predicted: list[list[Any]] = [[], [], [], []]

    @property
    def rows(self) -> int:
        return len(self.request_id)

    def add(self, frame: list[Any], micros: _Micros, service: Any, version: Any) -> None:
        """Append one request's rows; a malformed frame raises before anything is added."""
        (_, request_id, served, rows, values, statuses, stamps, weight,
         prediction) = frame  # fmt: skip
        layout = self.layout
        n = len(values)
        if not (len(rows) == len(statuses) == len(stamps) == n) or any(
            len(v) != layout.width for v in values
        ):
            raise ValueError(f"a request of layout {layout.folder} has ragged rows")
        served_us = micros(served)
        keys = [[row.get(key) for row in rows] for key in layout.keys]
        if any(len(row) != layout.groups for row in stamps):
            raise ValueError(f"a request of layout {layout.folder} has ragged event times")
        stamp_columns = [[micros(row[g]) for row in stamps] for g in range(layout.groups)]
        ids = []
        patterns = self.patterns
        for row in statuses:
            pattern = tuple(row)
            found = patterns.get(pattern)
            if found is None:
                self.codes.append([layout.codes[s] for s in pattern])  # KeyError: unknown
                found = patterns[pattern] = len(patterns)
            ids.append(found)
        if layout.prediction:
            model, model_version, role, scores = prediction
            if len(scores) != n:
                raise ValueError(f"{n} rows but {len(scores)} scores")
            for column, part in zip(
                self.predicted, ([model] * n, [model_version] * n, [role] * n, scores), strict=True
            ):
                column += part
        self.request_id += [request_id] * n
        self.row_index += range(n)
        self.served_at += [served_us] * n
        self.service += [service] * n
        self.service_version += [version] * n
        self.weight += [weight] * n
        for column, part in zip(self.keys, keys, strict=True):
            column += part
        self.values += values
        self.pattern_ids += ids
        for column, part in zip(self.stamps, stamp_columns, strict=True):
            column += part

    def table(self) -> Any:
        """The batch as an Arrow table of the layout's schema."""
        import numpy as np
        import pyarrow as pa

        schema = self.layout.schema
        ts = pa.timestamp("us", tz="UTC")
        n = self.rows
        features_type = schema.field("features").type
        columns = list(zip(*self.values, strict=True)) if self.values else []
        width = self.layout.width
        matrix = np.asarray(self.codes, dtype=np.int8).reshape(len(self.codes), width)
        matrix = matrix[np.asarray(self.pattern_ids, dtype=np.int64)]
        statuses = [
            pa.DictionaryArray.from_arrays(pa.array(matrix[:, j]), self.layout.dictionary)
            for j in range(matrix.shape[1])
        ]
        arrays = [
            pa.array(self.request_id, pa.string()),
            pa.array(self.row_index, pa.int32()),
            pa.array(self.served_at, pa.int64()).cast(ts),
            pa.array(self.service, pa.string()),
            pa.array(self.service_version, pa.int32()),
            pa.array(self.weight, pa.float64()),
            _struct(schema.field("entity").type, self.keys, n),
            _struct(features_type, columns, n),
            _struct(schema.field("statuses").type, statuses, n),
            _struct(
                schema.field("event_timestamps").type,
                [pa.array(c, pa.int64()).cast(ts) for c in self.stamps],
                n,
            ),
        ]
        if self.layout.prediction:
            arrays.append(_struct(schema.field("prediction").type, self.predicted, n))
        return pa.Table.from_arrays(arrays, schema=schema)


def _struct(kind: Any, columns: list[Any], rows: int) -> Any:
    """A struct array of ``kind`` from one column (a list or an Arrow array) per field."""
    import pyarrow as pa

    if kind.num_fields == 1 and pa.types.is_null(kind.field(0).type):
        return pa.StructArray.from_arrays([pa.nulls(rows)], fields=[kind.field(0)])
    children = [_column(c, kind.field(i)) for i, c in enumerate(columns)]
    return pa.StructArray.from_arrays(children, fields=list(kind))


def _column(values: Any, field: Any) -> Any:
    """A typed Arrow array; a column that does not convert is logged and written as nulls."""
    import pyarrow as pa

    if isinstance(values, pa.Array):
        return values
    try:
        return _typed(values, field.type)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        logger.exception(
            "request log: column %r is not %s; written as nulls", field.name, field.type
        )
        return pa.nulls(len(values), field.type)


def _typed(values: list[Any], kind: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_timestamp(kind):
        return pa.array(_micros_of(values), pa.int64()).cast(kind)
    if _needs_conversion(kind):
        return pa.array(_convert(values, kind), kind)
    return pa.array(values, kind)


def _needs_conversion(kind: Any) -> bool:
    """JSON carries timestamps as text and bytes as base64: those need converting."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind) or pa.types.is_binary(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind):
        return _needs_conversion(kind.value_type)
    return False


def _micros_of(values: list[Any]) -> list[int | None]:
    return [None if v is None else (datetime.fromisoformat(v) - _EPOCH) // _MICROSECOND
            for v in values]  # fmt: skip


def _convert(values: list[Any], kind: Any) -> list[Any]:
    import pyarrow as pa

    if pa.types.is_timestamp(kind):
        return [None if v is None else datetime.fromisoformat(v) for v in values]
    if pa.types.is_binary(kind):
        return [None if v is None else base64.b64decode(v) for v in values]
    return [None if v is None else _convert(v, kind.value_type) for v in values]


class _Log:
    """Every layout seen and the rows accumulated per (layout, UTC day)."""

    def __init__(self) -> None:
        self.layouts: dict[int, _Layout] = {}
        self.meta: dict[int, tuple[Any, Any]] = {}
        self.batches: dict[tuple[int, str], _Batch] = {}
        self.rows = 0
        self._micros = _Micros()

    def add(self, frame: Any) -> None:
        if isinstance(frame, dict):
            layout = _Layout(frame)
            self.layouts[int(frame["id"])] = layout
            self.meta[int(frame["id"])] = (frame["service"], frame["service_version"])
            return
        layout_id = frame[0]
        key = (layout_id, frame[2][:10])
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = _Batch(self.layouts[layout_id])
        before = batch.rows
        batch.add(frame, self._micros, *self.meta[layout_id])
        self.rows += batch.rows - before

    def write(self, root: Path) -> int:
        import pyarrow.parquet as pq

        written = 0
        batches, self.batches, self.rows = self.batches, {}, 0
        for (_, day), batch in batches.items():
            if not batch.rows:
                continue
            try:
                table = batch.table()
                folder = root / batch.layout.folder / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
                name = f"part-{stamp}-{os.getppid()}-{uuid.uuid4().hex[:8]}.parquet"
                temporary = folder / f".{name}.tmp"
                pq.write_table(table, temporary)
                temporary.rename(folder / name)
                written += table.num_rows
            except Exception:  # a failed file must not stop the log: report it and go on
                logger.exception(
                    "request log: writing %d rows of %s to %s failed",
                    batch.rows, batch.layout.folder, root,
                )  # fmt: skip
        return written


def run(root: Path, flush_seconds: float, flush_rows: int, stream: IO[bytes]) -> None:
    """Read frames until end of input, writing files per ``flush_seconds``/``flush_rows``."""
    log = _Log()
    last = time.monotonic()
    skipped = 0
    for frame in _frames(stream):
        if frame is not None:
            try:
                log.add(frame)
            except Exception:  # one malformed frame must not stop the log
                skipped += 1
                if skipped == 1:  # the first with its traceback, then a count per flush
                    logger.exception("request log: a frame could not be read; skipped")
        if log.rows >= flush_rows or time.monotonic() - last >= flush_seconds:
            skipped = _report(skipped)
            if log.rows:
                log.write(root)
            last = time.monotonic()
    _report(skipped)
    if log.rows:
        log.write(root)


def _report(skipped: int) -> int:
    if skipped > 1:
        logger.error("request log: %d more malformed frames skipped", skipped - 1)
    return 0


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
