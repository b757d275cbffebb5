"""When a view version's next sync is due: fixed intervals, cron, and the adaptive policy.

The adaptive policy models each entity key's source value as changing at a Poisson rate
``rate`` (per key per second), learned from the sync history: a run that covered
``interval`` seconds and wrote ``written`` of ``keys`` keys saw each key change with
probability ``written / keys``, so ``rate = -ln(1 - written / keys) / interval``;
runs are pooled weighted by their interval. ``keys`` is the largest ``rows_written`` in
the history (the first full sync writes every key; a lower bound otherwise).

A read is *out of policy* when the source holds a newer value for its key that is older
than the freshness target ``T`` and not synced yet. With syncs every ``I`` seconds and a
read at a uniform instant, the expected share of such reads is

    stale_share(I) = 0                                               if I <= T
                   = ((I - T) - (1 - exp(-rate (I - T))) / rate) / I   otherwise

which grows with ``I`` and with ``rate``. The policy picks the longest ``I`` in
[min_interval, max_interval] with ``stale_share(I) <= max_stale_share``: a volatile view
syncs often, a stable one rarely, and never beyond its bounds.

Example:
    >>> round(stale_share(1200.0, rate=0.0, target=600.0), 6)
    0.0
    >>> adaptive_interval(0.0, target=600.0, low=60.0, high=3600.0, max_stale=0.01)
    3600.0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from parity.registry.records import SyncRecord
from parity.sync.config import SyncPolicy

__all__ = [
    "SyncDecision",
    "Volatility",
    "adaptive_interval",
    "decide",
    "measure_volatility",
    "stale_share",
]

SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class Volatility:
    """The per-key change rate learned from the sync history, and what it rests on.

    Example:
        >>> Volatility(rate=0.001, keys=1000, runs=3).to_dict()["rate_per_key_per_hour"]
        3.6
    """

    rate: float
    keys: int
    runs: int

    def to_dict(self) -> dict[str, Any]:
        """The explanation's inputs, in units a person reads."""
        return {
            "rate_per_key_per_hour": round(self.rate * 3600, 6),
            "keys": self.keys,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class SyncDecision:
    """Why the next sync of a view version is due when it is.

    Example:
        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> SyncDecision(at, at, "fixed", 900.0, "every 900s").to_dict()["interval_seconds"]
        900.0
    """

    at: datetime
    next_due_at: datetime
    mode: str
    interval_seconds: float
    reason: str
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as stored in the schedule row and shown by ``parity status``."""
        return {
            "at": self.at.isoformat(),
            "next_due_at": self.next_due_at.isoformat(),
            "mode": self.mode,
            "interval_seconds": self.interval_seconds,
            "reason": self.reason,
            "inputs": dict(self.inputs),
        }


def measure_volatility(history: Sequence[SyncRecord]) -> Volatility:
    """Pool the per-key change rate over successful runs that follow another run.

    Example:
        >>> measure_volatility([]).rate
        0.0
    """
    done = sorted(
        (r for r in history if r.outcome == SUCCEEDED and r.finished_at is not None),
        key=lambda r: r.started_at,
    )
    keys = max((r.rows_written for r in done), default=0)
    weighted = 0.0
    covered = 0.0
    runs = 0
    for before, after in itertools.pairwise(done):
        interval = (after.started_at - before.started_at).total_seconds()
        if interval <= 0 or keys == 0:
            continue
        share = min(after.rows_written / keys, 0.999)
        weighted += -math.log1p(-share)
        covered += interval
        runs += 1
    return Volatility(rate=weighted / covered if covered else 0.0, keys=keys, runs=runs)


def stale_share(interval: float, /, *, rate: float, target: float) -> float:
    """Expected share of reads out of policy with syncs every ``interval`` seconds.

    Example:
        >>> 0 < stale_share(1200.0, rate=0.01, target=600.0) < 0.5
        True
    """
    excess = interval - target
    if excess <= 0 or rate <= 0:
        return 0.0
    return (excess - (-math.expm1(-rate * excess)) / rate) / interval


def adaptive_interval(
    rate: float, /, *, target: float, low: float, high: float, max_stale: float
) -> float:
    """The longest interval in [low, high] whose :func:`stale_share` is within ``max_stale``
    (``low`` when even that misses it: the bound wins, and the decision says so).

    Example:
        >>> round(adaptive_interval(1.0, target=600.0, low=60.0, high=3600.0, max_stale=0.01))
        607
    """
    if stale_share(high, rate=rate, target=target) <= max_stale:
        return high
    if stale_share(low, rate=rate, target=target) > max_stale:
        return low
    lo, hi = max(low, min(target, high)), high
    for _ in range(60):  # bisection: stale_share is increasing in the interval
        mid = (lo + hi) / 2
        if stale_share(mid, rate=rate, target=target) <= max_stale:
            lo = mid
        else:
            hi = mid
    return lo


def _next_cron(expression: str, after: datetime) -> datetime:
    from croniter import croniter

    fire: datetime = croniter(expression, after).get_next(datetime)
    return fire


def decide(
    policy: SyncPolicy, /, *, now: datetime, history: Sequence[SyncRecord], source: str
) -> SyncDecision:
    """The next due time after a run that ended at ``now``, with its explanation.

    ``source`` says where the policy came from (``parity.yaml`` or the definition's
    ``refresh_every``).

    Example:
        >>> from datetime import UTC, datetime
        >>> now = datetime(2026, 1, 1, tzinfo=UTC)
        >>> decide(SyncPolicy(every_seconds=900), now=now, history=[], source="x").reason
        'fixed: every 900s (x)'
    """
    if policy.mode == "fixed":
        if policy.cron is not None:
            due = _next_cron(policy.cron, now)
            return SyncDecision(
                now, due, "cron", (due - now).total_seconds(), f"cron {policy.cron!r} ({source})"
            )
        every = float(policy.every_seconds or 0.0)
        return SyncDecision(
            now,
            now + timedelta(seconds=every),
            "fixed",
            every,
            f"fixed: every {every:g}s ({source})",
        )
    target = float(policy.freshness_target_seconds or 0.0)
    found = measure_volatility(history)
    low, high = policy.min_interval_seconds, policy.max_interval_seconds
    if found.runs == 0:
        interval = low
        why = "adaptive: no measured change rate yet (needs two successful runs); min_interval"
    else:
        interval = adaptive_interval(
            found.rate, target=target, low=low, high=high, max_stale=policy.max_stale_share
        )
        share = stale_share(interval, rate=found.rate, target=target)
        bound = (
            " (max_interval)" if interval == high else " (min_interval)" if interval == low else ""
        )
        why = (
            f"adaptive: {found.rate * 3600:.4g} changes/key/hour over {found.runs} run(s); "
            f"every {interval:.0f}s{bound} keeps the expected share of reads older than "
            f"{target:g}s at {share:.2%} (limit {policy.max_stale_share:.2%})"
        )
    inputs = {
        **found.to_dict(),
        "freshness_target_seconds": target,
        "min_interval_seconds": low,
        "max_interval_seconds": high,
        "max_stale_share": policy.max_stale_share,
        "expected_stale_share": stale_share(interval, rate=found.rate, target=target),
    }
    return SyncDecision(now, now + timedelta(seconds=interval), "adaptive", interval, why, inputs)
