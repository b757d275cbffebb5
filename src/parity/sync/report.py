"""Outcomes and reports of synchronization runs.

Example:
    >>> SyncOutcome.SUCCEEDED.value
    'succeeded'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SyncOutcome(enum.StrEnum):
    """How a sync run of one view version ended."""

    # Started and not finished yet (or its process died and nobody noticed yet).
    RUNNING = "running"
    # Every valid row was published; the watermark advanced.
    SUCCEEDED = "succeeded"
    # The source does not match the definition (missing column, entity-key type): nothing
    # was published; a person must review.
    BLOCKED = "blocked"
    # An error stopped the run part-way; the watermark did not move, a rerun converges.
    FAILED = "failed"
    # Found RUNNING by a later run although its process is gone (killed mid-way).
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class VersionValidation:
    """The checks that gate a view version's promotion to serving.

    ``sampled``/``mismatches``: entity keys whose online value was compared with the
    offline point-in-time value at the same instant, and how many differed.
    """

    reject_ratio: float
    max_reject_ratio: float
    sampled: int
    mismatches: int
    examples: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when the reject ratio is under the threshold and every sample matched."""
        return self.reject_ratio <= self.max_reject_ratio and self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the sync record."""
        return {
            "passed": self.passed,
            "reject_ratio": self.reject_ratio,
            "max_reject_ratio": self.max_reject_ratio,
            "sampled": self.sampled,
            "mismatches": self.mismatches,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class SyncReport:
    """What one sync run of one view version did.

    Example:
        >>> from datetime import datetime, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> report = SyncReport("r1", "user_stats", 2, "incremental", SyncOutcome.SUCCEEDED,
        ...                     started_at=at, finished_at=at, rows_read=10, rows_written=9)
        >>> report.ref, report.rows_written
        ('user_stats@v2', 9)
    """

    run_id: str
    view: str
    version: int
    mode: str
    outcome: SyncOutcome
    started_at: datetime
    finished_at: datetime
    rows_read: int = 0
    rows_rejected: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    watermark: datetime | None = None
    delay_seconds: float | None = None
    rejections: dict[str, int] = field(default_factory=dict)
    validation: VersionValidation | None = None
    promoted: bool = False
    error: str | None = None

    @property
    def ref(self) -> str:
        """``view@vN``."""
        return f"{self.view}@v{self.version}"

    @property
    def seconds(self) -> float:
        """Wall time of the run."""
        return (self.finished_at - self.started_at).total_seconds()
