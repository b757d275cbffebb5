"""Reading vectors for request handlers: inline on the fast path, per view under a deadline.

Without a deadline a read is one :func:`~parity.retrieval.vectors.read_online` call (one
backend round trip for all views) made directly on the event loop: on loopback Redis it
takes tens of microseconds, less than handing it to a thread would cost. With a deadline
each view version is read in its own worker thread; whatever has arrived when the
deadline passes is served, the rest is null with status ``deadline_exceeded``.

When the online store fails, reads fail fast (503) instead of each waiting for the store's
timeout, and a single background trial read in a thread detects the store's return: a
frozen store costs its timeout once, to the one read that met it first.

Example:
    >>> reader = VectorReader(store.online_store, threads=8)  # doctest: +SKIP
    >>> await reader.read(plan, rows, now=now, deadline=0.005)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NoReturn

from parity.errors import OnlineStoreUnavailable
from parity.online.base import OnlineStore, ReadRequest, ViewTable
from parity.retrieval.resolve import ServingPlan
from parity.retrieval.vectors import FeatureStatus, OnlineResponse, read_online

COOLDOWN_SECONDS = 0.5
"""After an online store failure, reads fail fast this long before one tries again."""

_PROBE_KEYS: dict[str, Any] = {
    "int32": -1,
    "int64": -1,
    "bool": False,
    "string": "\x00parity-probe",
    "bytes": b"\x00parity-probe",
    "timestamp": datetime(1970, 1, 1, tzinfo=UTC),
}


def probe_online_store(store: OnlineStore, table: ViewTable) -> None:
    """One real round trip for a key nobody writes; raises ``OnlineStoreUnavailable`` if down.

    Example:
        >>> probe_online_store(store.online_store, table)  # doctest: +SKIP
    """
    key = tuple(_PROBE_KEYS.get(dtype.kind, b"") for _, dtype in table.join_keys)
    store.read([ReadRequest(table, [key])])


class VectorReader:
    """Reads for request handlers; owns the thread pool deadline reads run in.

    Example:
        >>> VectorReader(store.online_store, threads=2).close()  # doctest: +SKIP
    """

    def __init__(self, store: OnlineStore, *, threads: int) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="parity-read")
        self._split: dict[int, tuple[ServingPlan, tuple[ServingPlan, ...]]] = {}
        # The last online store failure, while it lasts; reads then fail fast.
        self._failure: OnlineStoreUnavailable | None = None
        self._failed_at = 0.0
        self._trial_running = False

    def _per_view(self, plan: ServingPlan) -> tuple[ServingPlan, ...]:
        entry = self._split.get(id(plan))
        if entry is None or entry[0] is not plan:
            if len(self._split) > 256:
                self._split.clear()  # plans are rebuilt when the registry cache expires
            entry = (
                plan,
                # Transforms run once on the assembled vectors, not per view.
                tuple(dataclasses.replace(plan, reads=(r,), transforms=None) for r in plan.reads),
            )
            self._split[id(plan)] = entry
        return entry[1]

    async def read(
        self,
        plan: ServingPlan,
        rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime,
        deadline: float | None,
    ) -> OnlineResponse:
        """The vectors of ``rows``; ``deadline`` is in seconds from now (None: wait).

        After the online store failed, reads fail fast; every :data:`COOLDOWN_SECONDS` one
        of them also starts a trial read in a thread (so a hung store never blocks the
        event loop, and no request waits for it), and the trial's success ends the outage.
        """
        if self._failure is not None:
            self._trial(plan, rows, now=now)
        try:
            if deadline is None:
                return read_online(self._store, plan, rows, now=now)
            return await self._read_views(plan, rows, now=now, deadline=deadline)
        except OnlineStoreUnavailable as exc:
            self._failure, self._failed_at = exc, time.monotonic()
            raise

    def _trial(
        self, plan: ServingPlan, rows: Sequence[Mapping[str, Any]], *, now: datetime
    ) -> NoReturn:
        """Fail fast; once per cooldown, this request's read also starts in the background
        as the trial whose success ends the outage (no request waits on a hung store)."""
        failure = self._failure
        if not self._trial_running and time.monotonic() - self._failed_at >= COOLDOWN_SECONDS:
            self._trial_running = True
            trial = asyncio.get_running_loop().run_in_executor(
                self._pool, _read, self._store, plan, rows, now
            )
            trial.add_done_callback(self._trial_done)
        raise OnlineStoreUnavailable(
            f"{failure} (Failing fast since the last failure; serving resumes by itself "
            "once the store answers: watch /ready.)"
        )

    def _trial_done(self, trial: asyncio.Future[OnlineResponse]) -> None:
        self._trial_running = False
        error = None if trial.cancelled() else trial.exception()
        if error is None and not trial.cancelled():
            self._failure = None
        elif isinstance(error, OnlineStoreUnavailable):
            self._failure, self._failed_at = error, time.monotonic()
        else:
            # Any other error is the request's own (a bad key type): the store answered.
            self._failure = None

    async def _read_views(
        self,
        plan: ServingPlan,
        rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime,
        deadline: float,
    ) -> OnlineResponse:
        loop = asyncio.get_running_loop()
        parts = self._per_view(plan)
        futures = [
            loop.run_in_executor(self._pool, _read, self._store, part, rows, now) for part in parts
        ]
        done, pending = await asyncio.wait(futures, timeout=deadline)
        for future in pending:
            # The thread finishes on its own; its answer is simply not used.
            future.cancel()
        width = len(plan.output_names)
        count = len(rows)
        values: list[list[Any]] = [[None] * width for _ in range(count)]
        statuses = [[FeatureStatus.DEADLINE_EXCEEDED] * width for _ in range(count)]
        stamps: list[list[datetime | None]] = [[None] * width for _ in range(count)]
        for future in done:
            error = future.exception()
            if error is not None:
                raise error  # the read's own error (503, 422...)
        for part, future in zip(parts, futures, strict=True):
            if future not in done:
                continue
            answer = future.result()
            outputs = part.reads[0].outputs
            for i in range(count):
                for j in outputs:
                    values[i][j] = answer.values[i][j]
                    statuses[i][j] = answer.statuses[i][j]
                    stamps[i][j] = answer.event_timestamps[i][j]
        if plan.transforms is not None:
            plan.transforms.apply_online(
                rows,
                values,
                statuses,
                stamps,
                present=FeatureStatus.PRESENT,
                null_value=FeatureStatus.NULL_VALUE,
            )
        return OnlineResponse(
            feature_names=plan.output_names,
            join_keys=plan.join_keys,
            entity_rows=rows,
            values=values,
            statuses=statuses,
            event_timestamps=stamps,
            served_at=now,
            service=plan.service,
            service_version=plan.service_version,
            _plan=plan,
        )

    def close(self) -> None:
        """Stop the thread pool (running reads finish)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _read(
    store: OnlineStore, plan: ServingPlan, rows: Sequence[Mapping[str, Any]], now: datetime
) -> OnlineResponse:
    return read_online(store, plan, rows, now=now)
