"""The request log: every served vector, appended to typed Parquet under the offline store.

The handler only appends a reference to the response (and its serving plan) to an
in-memory queue (no copy, no encoding); every 250 ms a thread encodes the queue (one
orjson call per request) and pipes it to a writer process (:mod:`parity.serve.log_writer`)
that builds typed Arrow columns and writes one Parquet file per layout and flush into
``<offline path>/request_log/layout=<name>/date=YYYY-MM-DD/`` (written to a temporary
name, then renamed, so readers never see a partial file). A layout is one serving plan's
shape (:mod:`parity.monitor.log_layout`): resolved once per plan on the sending thread and
sent once to each writer process.

Memory is bounded: above half of ``max_pending_rows`` only a random sample of requests is
kept (each kept row carries ``sample_weight`` = 1 / sampling rate), at the bound new rows
are dropped; both are counted in ``/metrics``. Closing hands over everything still queued
and waits for the writer to write it.

One row per served entity row; the schema is documented in ``docs/serving.md``.

Example:
    >>> log = RequestLog(Path("rl"), RequestLogConfig(), ServerMetrics())  # doctest: +SKIP
    >>> log.record(response, request_id="r1", plan=plan)  # doctest: +SKIP
    >>> log.close()  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from parity.monitor.log_layout import LAYOUT_PREFIX, LogLayout, layout_schema
from parity.retrieval.resolve import ServingPlan
from parity.retrieval.vectors import FeatureStatus, OnlineResponse
from parity.serve import log_writer
from parity.serve.config import RequestLogConfig
from parity.serve.log_writer import TICK, encode_frame
from parity.serve.metrics import ServerMetrics

logger = logging.getLogger("parity.serve")


@dataclass(frozen=True)
class ServedPrediction:
    """A model's scores for a logged response (``/predict``), one per entity row.

    Example:
        >>> ServedPrediction("fraud_model", 3, "champion", [0.12]).scores
        [0.12]
    """

    model: str
    version: int
    role: str
    scores: Sequence[float]


def plan_layout(plan: ServingPlan, *, prediction: bool = False) -> LogLayout:
    """The log layout of the responses a serving plan produces.

    Event times are grouped: one per view version read (every feature of a view shares
    its row's event time) and one per row-transform output (named after the output; its
    event time is its own, the oldest of its inputs').

    Example:
        >>> plan_layout(plan).views  # doctest: +SKIP
        ('user_stats@v1', 'merchant_risk@v1')
    """
    view_of: dict[int, int] = {}
    key_types: dict[str, str] = {}
    groups = [f"{r.table.view}@v{r.table.version}" for r in plan.reads]
    for index, read in enumerate(plan.reads):
        view_of.update(dict.fromkeys(read.outputs, index))
        for name, dtype in read.table.join_keys:
            key_types.setdefault(name, dtype.name)
    for j, name in enumerate(plan.output_names):
        if j not in view_of:  # a row-transform output
            view_of[j] = len(groups)
            groups.append(name)
    return LogLayout(
        service=plan.service,
        service_version=plan.service_version,
        features=tuple(
            (name, dtype.name, view_of[j])
            for j, (name, dtype) in enumerate(
                zip(plan.output_names, plan.output_dtypes, strict=True)
            )
        ),
        join_keys=tuple((k, key_types[k]) for k in plan.join_keys),
        views=tuple(groups),
        statuses=tuple(s.value for s in FeatureStatus),
        prediction=prediction,
    )


def stamp_positions(layout: LogLayout) -> tuple[int, ...]:
    """Per event-time group of ``layout`` (its ``views``), the first feature in it: a
    request frame carries only those event times (one per group, not one per feature).

    Example:
        >>> stamp_positions(LogLayout(None, None, (("a", "int64", 0), ("b", "int64", 1),
        ...                                        ("c", "int64", 1)), (), ("v@v1", "w@v1"), ()))
        (0, 1)
    """
    first: dict[int, int] = {}
    for index, (_, _, group) in enumerate(layout.features):
        first.setdefault(group, index)
    return tuple(first[group] for group in range(len(layout.views)))


def request_frame(
    layout_id: int,
    positions: tuple[int, ...],
    request_id: str,
    response: OnlineResponse,
    weight: float,
    prediction: ServedPrediction | None,
) -> bytes:
    """The frame of one logged response (``positions``: :func:`stamp_positions`).

    Example:
        >>> request_frame(0, (0,), "r1", response, 1.0, None)  # doctest: +SKIP
    """
    if len(positions) == 1:
        (only,) = positions
        stamps = [[row[only]] for row in response.event_timestamps]
    else:
        stamps = [[row[p] for p in positions] for row in response.event_timestamps]
    predicted = None
    if prediction is not None:
        predicted = [prediction.model, prediction.version, prediction.role,
                     list(prediction.scores)]  # fmt: skip
    return encode_frame(
        [
            layout_id,
            request_id,
            response.served_at,
            response.entity_rows,
            response.values,
            response.statuses,
            stamps,
            weight,
            predicted,
        ]
    )


def layout_frame(layout: LogLayout, layout_id: int) -> bytes:
    """The frame that declares a layout to the writer process.

    Example:
        >>> layout = LogLayout(None, None, (("x", "int64", 0),), (), ("v@v1",), ("present",))
        >>> layout_frame(layout, 0)[4:12]
        b'{"id":0,'
    """
    schema = layout_schema(layout).serialize().to_pybytes()
    return encode_frame(
        {
            "id": layout_id,
            "dir": LAYOUT_PREFIX + layout.name,
            "schema": base64.b64encode(schema).decode(),
            "keys": [k for k, _ in layout.join_keys],
            "statuses": list(layout.statuses),
            "service": layout.service,
            "service_version": layout.service_version,
        }
    )


# (request id, plan, response, sample weight, prediction)
_Entry = tuple[str, ServingPlan, OnlineResponse, float, ServedPrediction | None]
_SEND_SECONDS = 0.25
_CHUNK = 32  # requests encoded between two hand-overs of the interpreter lock
_YIELD_SECONDS = 0.0005


class RequestLog:
    """A bounded queue of served vectors and the writer process that logs them.

    Every 250 ms a thread encodes what is queued (one orjson call per request, in C) and
    pipes it to the writer process (:mod:`parity.serve.log_writer`), which builds the
    Arrow tables and writes the Parquet files off this process's interpreter lock. If the
    writer falls behind, the pipe fills, the queue grows and the log samples.

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
        self._sent = 0  # rows ever handed to the writer or lost with it (sender thread)
        self._half = config.max_pending_rows // 2
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._spawned_at = 0.0
        self._random = random.Random()
        # Sender thread only: layout per (plan, with prediction), ids per layout name, and
        # the layouts the current writer process has been told about.
        self._plans: dict[tuple[int, bool], tuple[ServingPlan, int, tuple[int, ...]]] = {}
        self._layouts: dict[str, int] = {}
        self._frames: dict[int, bytes] = {}
        self._declared: set[int] = set()

    @property
    def pending(self) -> int:
        """Rows queued and not yet handed to the writer process."""
        return self._queued - self._sent

    def start(self) -> None:
        """Start the writer process and the thread that feeds it."""
        self._spawn()
        self._thread = threading.Thread(target=self._run, name="parity-request-log", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        self._spawned_at = time.monotonic()
        self._declared = set()  # a new writer knows no layout yet
        self._process = subprocess.Popen(
            [
                sys.executable,
                # By path, not -m: the writer needs orjson and pyarrow, not the parity package.
                str(Path(log_writer.__file__)),
                str(self.root),
                str(self._config.flush_interval_seconds),
                str(self._config.flush_rows),
            ],
            stdin=subprocess.PIPE,
            # Its own session: Ctrl-C reaches the server, which then closes the pipe.
            start_new_session=True,
        )

    def record(
        self,
        response: OnlineResponse,
        *,
        request_id: str,
        plan: ServingPlan,
        prediction: ServedPrediction | None = None,
    ) -> None:
        """Queue one served response of ``plan`` (hot path: constant time, no encoding).

        Call it from one thread (the event loop): its counters are not locked.
        """
        rows = len(response.values)
        pending = self._queued - self._sent
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
        self._queue.append((request_id, plan, response, weight, prediction))
        self._queued += rows

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(_SEND_SECONDS)
            self._send()

    def _send(self) -> None:
        # A tick first (the writer's clock), then the queue in chunks: between chunks a
        # short real sleep hands the interpreter lock to the event loop (after sleep(0)
        # this thread would usually take it straight back).
        self._write([TICK], 0)
        while self._queue:
            frames: list[bytes] = []
            rows = 0
            while self._queue and len(frames) < _CHUNK:
                request_id, plan, response, weight, prediction = self._queue.popleft()
                layout_id, positions = self._layout(plan, prediction is not None, frames)
                frames.append(
                    request_frame(layout_id, positions, request_id, response, weight, prediction)
                )
                rows += len(response.values)
            self._write(frames, rows)
            time.sleep(_YIELD_SECONDS)
        pending = self._queued - self._sent
        self._metrics.log_pending.set(pending)
        if pending <= self._half:
            self._metrics.log_sample_rate.set(1.0)

    def _layout(
        self, plan: ServingPlan, prediction: bool, frames: list[bytes]
    ) -> tuple[int, tuple[int, ...]]:
        """The layout id of ``plan``'s responses and its stamp positions; declares the
        layout first to a writer that does not know it."""
        cached = self._plans.get((id(plan), prediction))
        if cached is None or cached[0] is not plan:
            if len(self._plans) > 256:
                self._plans.clear()  # bounded: clients may send many feature lists
            layout = plan_layout(plan, prediction=prediction)
            layout_id = self._layouts.get(layout.name, -1)
            if layout_id < 0:
                layout_id = self._layouts[layout.name] = len(self._layouts)
                self._frames[layout_id] = layout_frame(layout, layout_id)
            cached = self._plans[(id(plan), prediction)] = (
                plan, layout_id, stamp_positions(layout)
            )  # fmt: skip
        _, layout_id, positions = cached
        if layout_id not in self._declared:
            frames.append(self._frames[layout_id])
            self._declared.add(layout_id)
        return layout_id, positions

    def _write(self, frames: list[bytes], rows: int) -> None:
        process = self._process
        try:
            assert process is not None and process.stdin is not None
            process.stdin.write(b"".join(frames))  # blocks (lock released) if the writer lags
            process.stdin.flush()
        except (OSError, ValueError, AssertionError):
            if rows:
                logger.error("request log: the writer process is gone; %d rows lost", rows)
                self._metrics.log_dropped.labels("write_error").inc(rows)
            # A writer that died is replaced (at most once a second) unless we are closing.
            if not self._stopping and time.monotonic() - self._spawned_at >= 1.0:
                logger.error("request log: starting a new writer process")
                if process is not None:
                    _retire(process)
                self._spawn()
        else:
            self._metrics.log_rows.inc(rows)
        self._sent += rows

    def close(self) -> None:
        """Hand over what is still queued and wait for the writer to write it (shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._send()
        process, self._process = self._process, None
        if process is not None:
            _retire(process, timeout=60)


def _retire(process: subprocess.Popen[bytes], *, timeout: float = 1.0) -> None:
    """Close the writer's pipe and wait for it to finish (killed after ``timeout``)."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logger.error("request log: the writer did not finish in %s s; stopping it", timeout)
        process.kill()
        process.wait()
