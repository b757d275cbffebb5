"""Riding out a dependency outage: retry with backoff, within a bound, naming the first error.

Redis holds the leases and checkpoints of both transports (and the Redis transport's
events). A restart of a few seconds must not end ``parity stream run``: the processor keeps
its state in memory, retries its turn with exponential backoff, and resumes; unacknowledged
messages come back, and the state recognises what it applied. Only an outage longer than
``dependency_outage_seconds`` ends the run, with :class:`~parity.errors.StreamDependencyDown`
naming the *first* error (the ones after it are consequences).

Example:
    >>> outage = Outage(bound_seconds=10.0, clock=iter([0.0, 0.5, 1.0]).__next__)
    >>> outage.failed(ConnectionError("Connection refused"))
    0.1
    >>> outage.failed(ConnectionError("Connection refused"))
    0.2
    >>> outage.first_error
    ConnectionError('Connection refused')
"""

from __future__ import annotations

import time
from collections.abc import Callable

from parity.errors import StreamDependencyDown

__all__ = ["Outage"]

_FIRST_DELAY = 0.1
_MAX_DELAY = 2.0


class Outage:
    """The state of one outage: when it began, its first error, the next delay.

    Example:
        >>> Outage(bound_seconds=1.0).first_error is None
        True
    """

    def __init__(
        self, *, bound_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bound_seconds = bound_seconds
        self._clock = clock
        self.first_error: BaseException | None = None
        self._began = 0.0
        self._delay = _FIRST_DELAY
        self.retries = 0

    def failed(self, error: BaseException) -> float:
        """Note a failed turn; the seconds to wait before the next, or raise
        :class:`StreamDependencyDown` once the outage outlasts the bound."""
        now = self._clock()
        if self.first_error is None:
            self.first_error, self._began, self._delay = error, now, _FIRST_DELAY
        if now - self._began > self.bound_seconds:
            raise StreamDependencyDown(
                f"A dependency of the stream processor has been unreachable for "
                f"{now - self._began:.1f} s (more than dependency_outage_seconds = "
                f"{self.bound_seconds:g}); first error: {type(self.first_error).__name__}: "
                f"{self.first_error}. Bring Redis (leases, checkpoints) or the transport "
                "back and restart: processing resumes from the last checkpoint."
            ) from self.first_error
        delay = self._delay
        self._delay = min(self._delay * 2, _MAX_DELAY)
        self.retries += 1
        return delay

    def recovered(self) -> bool:
        """A turn succeeded: the outage (if any) is over; True if there was one."""
        was = self.first_error is not None
        self.first_error = None
        return was
