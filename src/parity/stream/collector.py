"""The cyclic garbage collector's policy while a stream processor runs.

A full collection traverses every tracked object; in a processor that is the imported
libraries (pyarrow, pandas, duckdb, deltalake...) plus the window state: measured 50-110
ms per full collection, several per minute at 2,000 events/s, each one stalling every
event behind it. So while :meth:`StreamProcessor.run` runs, the start-up heap is frozen
(``gc.freeze``: never traversed again), automatic full collections are off, and one runs
every ``full_every_seconds`` instead (default 10 minutes: its pause touches fewer than
0.05% of the events). Young collections (about 1 ms) run as usual and collect the
short-lived cycles; the window state has no cycles and is freed by reference counting.

Example:
    >>> with quiet_collector(600.0) as collector:
    ...     collector.tick()  # once per loop turn
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Above any count of young collections a process reaches: no automatic full collection.
_NEVER = 1 << 30


class Collector:
    """Runs the scheduled full collection from the loop (:meth:`tick` each turn).

    Example:
        >>> Collector(600.0).full_collections
        0
    """

    def __init__(self, full_every_seconds: float) -> None:
        self.full_every_seconds = full_every_seconds
        self.full_collections = 0
        self._next = time.monotonic() + full_every_seconds

    def tick(self) -> None:
        """Collect fully if the interval has passed (cheap otherwise: one clock read)."""
        if time.monotonic() >= self._next:
            gc.collect()
            self.full_collections += 1
            self._next = time.monotonic() + self.full_every_seconds


@contextmanager
def quiet_collector(full_every_seconds: float) -> Iterator[Collector]:
    """Freeze the start-up heap and schedule full collections; restore on exit.

    Example:
        >>> with quiet_collector(600.0) as collector:
        ...     collector.full_collections
        0
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], _NEVER)
    try:
        yield Collector(full_every_seconds)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
