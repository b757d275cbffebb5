"""Exact per-entity window state: the online half of an aggregation view.

Each entity keeps the events of its longest window (event time, event id, input values),
sorted by time, and an ``as_of`` instant: the newest instant its value was computed
for (its newest event, or a window expiry). The value at ``as_of`` is computed from the
events with the very definition the offline engine uses (``(as_of - window, as_of]``,
nulls ignored, ``last`` tie-broken by value), so online and offline agree exactly up to
float summation order (``math.fsum``: correctly rounded).

- Idempotence: an event id already in the state is a redelivery and is ignored, whenever
  it arrives (duplication is checked before lateness).
- Lateness: the partition watermark is the greatest event time seen; an event older than
  ``watermark - allowed_lateness`` is dropped and counted. An event both older than that
  and outside every window at its entity's ``as_of`` can never matter again: evicted.
- Expiry: a value also changes when an event leaves a window. :meth:`due` returns the
  entities whose next expiry instant has passed; recomputing them at that instant keeps
  online values exact with no new event (timers, in a heap, invalidated lazily).

Example:
    >>> from datetime import timedelta
    >>> from parity.definitions import Aggregation
    >>> state = WindowState([Aggregation("amount", "sum", timedelta(seconds=10))],
    ...                     allowed_lateness_us=0)
    >>> state.apply((7,), 1_000_000, "e1", (2.5,)), state.apply((7,), 1_000_000, "e1", (2.5,))
    (<Applied.NEW: 'new'>, <Applied.DUPLICATE: 'duplicate'>)
    >>> state.values((7,))
    (2.5,)
"""

from __future__ import annotations

import bisect
import enum
import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parity.definitions import Aggregation, AggregationFunction

Key = tuple[Any, ...]


class Applied(enum.StrEnum):
    """What :meth:`WindowState.apply` did with one event."""

    # The event entered the state; the entity's value changed.
    NEW = "new"
    # The event id is already in the state: a redelivery, ignored.
    DUPLICATE = "duplicate"
    # Older than the allowed lateness: dropped and counted, never applied.
    LATE = "late"


@dataclass
class EntityWindow:
    """One entity's events (sorted by time) and the instant its value is computed at."""

    times: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    values: list[tuple[Any, ...]] = field(default_factory=list)
    as_of: int = -(2**63)
    known: set[str] = field(default_factory=set)
    # The time of the entity's last retraction (a CDC delete); events before it are gone.
    retracted: int = -(2**63)
    # Ids of the retractions, and of the events they removed at exactly their instant
    # (so a redelivery of either is recognised).
    retraction_ids: list[str] = field(default_factory=list)

    def to_list(self) -> list[Any]:
        """Plain form for checkpoints: a snapshot (shallow copies; the value tuples are
        immutable), so another thread may serialize it while this window changes."""
        plain = [self.as_of, self.times[:], self.ids[:], self.values[:]]
        if self.retraction_ids:
            plain += [self.retracted, self.retraction_ids[:]]
        return plain

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> EntityWindow:
        """Rebuild from :meth:`to_list` output."""
        as_of, times, ids, values = data[:4]
        window = cls(list(times), list(ids), [tuple(v) for v in values], as_of, set(ids))
        if len(data) > 4:
            window.retracted, window.retraction_ids = data[4], list(data[5])
            window.known.update(window.retraction_ids)
        return window


def _aggregate(function: AggregationFunction, items: list[tuple[int, Any]], integer: bool) -> Any:
    if function is AggregationFunction.COUNT:
        return len(items)
    if function is AggregationFunction.COUNT_DISTINCT:
        return len({v for _, v in items})
    if not items:
        return None
    if function is AggregationFunction.LAST:
        return max(items)[1]
    numbers = [v for _, v in items]
    if function is AggregationFunction.MIN:
        return min(numbers)
    if function is AggregationFunction.MAX:
        return max(numbers)
    total = sum(numbers) if integer else math.fsum(numbers)
    if function is AggregationFunction.SUM:
        return total
    return total / len(numbers)


class WindowState:
    """The aggregation state of one partition of entities.

    ``apply`` ingests one event; ``values`` computes an entity's features at its
    ``as_of``; ``due`` fires expiry timers; ``dirty`` lists entities changed since the
    last ``take_dirty`` (what to write online and checkpoint).
    """

    def __init__(self, aggregations: Sequence[Aggregation], *, allowed_lateness_us: int) -> None:
        self.aggregations = tuple(aggregations)
        columns: list[str] = []
        for agg in self.aggregations:
            if agg.column not in columns:
                columns.append(agg.column)
        self.columns = tuple(columns)
        # Resolved once: (function, window, column position, integer input).
        self._plan = tuple(
            (
                AggregationFunction(a.function),
                a.window_us,
                columns.index(a.column),
                not isinstance(a.dtype, str) and a.dtype.is_integer,
            )
            for a in self.aggregations
        )
        # Sliding windows expire event by event; fixed (tumbling, hopping) windows change at
        # their hop boundaries (#18).
        self._windows = sorted({a.window_us for a in self.aggregations if a.hop_us is None})
        self._fixed = sorted(
            {(a.window_us, a.hop_us) for a in self.aggregations if a.hop_us is not None}
        )
        self._hops = tuple(a.hop_us for a in self.aggregations)
        # How far back a value can reach from ``as_of``.
        self.longest_us = max(a.window_us + (a.hop_us or 0) for a in self.aggregations)
        self.allowed_lateness_us = allowed_lateness_us
        self.watermark = -(2**63)
        self.entities: dict[Key, EntityWindow] = {}
        self._timers: list[tuple[int, Key]] = []
        self._dirty: set[Key] = set()
        self._removed: set[Key] = set()

    # --- events ----------------------------------------------------------------------

    def apply(self, key: Key, time_us: int, event_id: str, values: tuple[Any, ...]) -> Applied:
        """Ingest one event (values in :attr:`columns` order)."""
        entity = self.entities.get(key)
        # Duplication first: a redelivered event that was applied is a duplicate even when
        # it now arrives after the allowed lateness (calling it late would dead-letter it,
        # and re-driving the dead letters would count it twice).
        if entity is not None and event_id in entity.known:
            return Applied.DUPLICATE
        if entity is not None and time_us < entity.retracted:
            # Before the entity's last retraction: a redelivery of an event it removed.
            return Applied.DUPLICATE
        if time_us < self.watermark - self.allowed_lateness_us:
            return Applied.LATE
        if entity is None:
            entity = self.entities[key] = EntityWindow()
            self._removed.discard(key)
        at = bisect.bisect_right(entity.times, time_us)
        entity.times.insert(at, time_us)
        entity.ids.insert(at, event_id)
        entity.values.insert(at, values)
        entity.known.add(event_id)
        if time_us > entity.as_of:
            entity.as_of = time_us
        if time_us > self.watermark:
            self.watermark = time_us
        self._dirty.add(key)
        self._schedule(key, entity)
        return Applied.NEW

    def retract(self, key: Key, time_us: int, event_id: str) -> Applied:
        """A retraction of ``key`` at ``time_us`` (a CDC delete): the entity's events at or
        before it leave every window, its value becomes the empty windows' value at that
        instant (``count`` 0, the others null), and later events start afresh. Offline,
        the same rule holds (an entity's windows restart after each retraction; see
        :func:`parity.offline.aggregations.probe_aggregates_sql`).

        Example:
            >>> from datetime import timedelta
            >>> from parity.definitions import Aggregation
            >>> state = WindowState([Aggregation("amount", "count", timedelta(seconds=10))],
            ...                     allowed_lateness_us=0)
            >>> _ = state.apply((7,), 1, "e1", (2.5,))
            >>> state.retract((7,), 2, "d1"), state.values((7,))
            (<Applied.NEW: 'new'>, (0,))
        """
        if time_us < self.watermark - self.allowed_lateness_us:
            return Applied.LATE
        entity = self.entities.get(key)
        if entity is None:
            entity = self.entities[key] = EntityWindow()
            self._removed.discard(key)
        elif event_id in entity.known:
            return Applied.DUPLICATE
        cut = bisect.bisect_right(entity.times, time_us)
        # Events at exactly the retraction's instant stay recognisable (a redelivery of one
        # must not come back: apply() keeps events at the instant, which come after it).
        at_instant = [
            i for i, t in zip(entity.ids[:cut], entity.times[:cut], strict=True) if t == time_us
        ]
        entity.known.difference_update(entity.ids[:cut])
        del entity.times[:cut], entity.ids[:cut], entity.values[:cut]
        if time_us > entity.retracted:
            entity.retracted, entity.retraction_ids = time_us, []
        entity.retraction_ids += [event_id, *at_instant]
        entity.known.update(entity.retraction_ids)
        if time_us > entity.as_of:
            entity.as_of = time_us
        if time_us > self.watermark:
            self.watermark = time_us
        self._dirty.add(key)
        self._schedule(key, entity)
        return Applied.NEW

    def values(self, key: Key) -> tuple[Any, ...]:
        """The entity's features at its ``as_of`` (in aggregation order)."""
        entity = self.entities[key]
        at, times, rows = entity.as_of, entity.times, entity.values
        out = []
        for (function, window, column, integer), hop in zip(self._plan, self._hops, strict=True):
            # A fixed window: the one that ended last at or before as_of, [e - window, e).
            end = at if hop is None else (at // hop) * hop - 1
            lo = bisect.bisect_right(times, end - window)
            hi = bisect.bisect_right(times, end)
            items = [
                (times[i], rows[i][column]) for i in range(lo, hi) if rows[i][column] is not None
            ]
            out.append(_aggregate(function, items, integer))
        return tuple(out)

    # --- expiry ----------------------------------------------------------------------

    def _next_expiry(self, entity: EntityWindow) -> int | None:
        """The first instant after ``as_of`` at which an event leaves some window."""
        best: int | None = None
        for window in self._windows:
            i = bisect.bisect_right(entity.times, entity.as_of - window)
            if i < len(entity.times) and entity.times[i] <= entity.as_of:
                expiry = entity.times[i] + window
                if best is None or expiry < best:
                    best = expiry
        for window, hop in self._fixed:
            # The next boundary changes the value if an event lies in the window before or
            # after it (a boundary that changes nothing rewrites the same value: harmless).
            boundary = (entity.as_of // hop + 1) * hop
            i = bisect.bisect_left(entity.times, boundary - hop - window)
            changes = i < len(entity.times) and entity.times[i] < boundary
            if changes and (best is None or boundary < best):
                best = boundary
        return best

    def _schedule(self, key: Key, entity: EntityWindow) -> None:
        expiry = self._next_expiry(entity)
        if expiry is not None:
            heapq.heappush(self._timers, (expiry, key))

    def due(self, now_us: int) -> list[Key]:
        """Advance every entity whose next expiry is at or before ``now_us`` to it."""
        fired: list[Key] = []
        while self._timers and self._timers[0][0] <= now_us:
            expiry, key = heapq.heappop(self._timers)
            entity = self.entities.get(key)
            if entity is None or self._next_expiry(entity) != expiry:
                continue  # stale timer: the entity moved on since it was set
            entity.as_of = expiry
            self._dirty.add(key)
            fired.append(key)
            self._schedule(key, entity)
        return fired

    def evict(self) -> int:
        """Drop events that can never matter again; return how many.

        An event goes when it is older than the lateness horizon (a redelivery of it would
        be dropped as late, so its id is no longer needed) and outside every window at the
        entity's ``as_of`` (values are only ever computed at ``as_of`` or later). An entity
        left without events has an empty-window value already written, and is forgotten.
        """
        horizon = self.watermark - self.allowed_lateness_us - 1
        dropped = 0
        for key, entity in list(self.entities.items()):
            cut = bisect.bisect_right(entity.times, min(horizon, entity.as_of - self.longest_us))
            if not cut:
                if not entity.times and entity.retracted <= horizon:
                    del self.entities[key]  # retracted long ago: a redelivery would be late
                    self._removed.add(key)
                    self._dirty.discard(key)
                continue
            for event_id in entity.ids[:cut]:
                entity.known.discard(event_id)
            del entity.times[:cut], entity.ids[:cut], entity.values[:cut]
            dropped += cut
            if not entity.times and entity.retracted <= horizon:
                del self.entities[key]
                self._removed.add(key)
                self._dirty.discard(key)
            else:
                self._dirty.add(key)  # its checkpoint shrinks
        return dropped

    # --- bookkeeping -------------------------------------------------------------------

    def take_dirty(self) -> tuple[list[Key], list[Key]]:
        """Entities changed and entities removed since the last call; resets both."""
        dirty = [k for k in self._dirty if k in self.entities]
        removed = list(self._removed)
        self._dirty.clear()
        self._removed.clear()
        return dirty, removed

    def restore(self, entities: Iterable[tuple[Key, EntityWindow]], watermark: int) -> None:
        """Load checkpointed entities (and re-arm their timers)."""
        self.watermark = max(self.watermark, watermark)
        for key, entity in entities:
            self.entities[key] = entity
            self._schedule(key, entity)
