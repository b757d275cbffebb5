"""The monitor's quality checks on every batch written: sync's observer, push's hook.

:class:`QualityMonitor` implements :class:`parity.sync.observer.SyncObserver`: the facade
gives it to the sync controller, which tells it of each published batch; it checks the
batch against the view's contract and the ``monitoring.quality`` bounds, stores the run
(:mod:`parity.monitor.quality`) and raises the alerts the rules give
(:func:`parity.monitor.policy.alert_on_quality`). Pushes call :meth:`QualityMonitor.check_push`
for each target view version; a passing push stores nothing (pushes are many and small).

It takes only what it uses: the monitoring settings, where the monitoring tables live and
the repository root (relative alert log paths).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from parity.monitor.config import MonitorConfig
    >>> repo = Path(tempfile.mkdtemp())
    >>> monitor = QualityMonitor(MonitorConfig(), root=repo / "monitoring", repo_root=repo)
    >>> monitor.settings.quality.fail_ratio
    0.01
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from parity.monitor.alerts import Severity
from parity.monitor.config import MonitorConfig
from parity.monitor.failures import dispatch_failures, failure_alert
from parity.monitor.policy import alert_on_quality
from parity.monitor.quality import (
    CheckSeverity,
    QualityRun,
    check_batch,
    record_batch_quality,
    record_quality,
)
from parity.sync.observer import SyncBatch, SyncFailure

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.definitions import FeatureView
    from parity.sync.validate import ValidationResult

__all__ = ["QualityMonitor"]


@dataclass(frozen=True)
class QualityMonitor:
    """Checks, stores and alerts on the quality of every synced or pushed batch.

    Example:
        >>> from pathlib import Path
        >>> QualityMonitor(MonitorConfig(), root=Path("m"), repo_root=Path(".")).root.name
        'm'
    """

    settings: MonitorConfig
    root: Path
    repo_root: Path

    def batch_validated(self, batch: SyncBatch, /) -> None:
        """Record a synced batch's quality run (every run, passing or not) and alert on it.

        Example:
            >>> monitor.batch_validated(batch)  # doctest: +SKIP
        """
        run = record_batch_quality(
            self.root, batch.view, batch.rows, version=batch.version, source=batch.source,
            now=batch.at, validation=batch.validation, settings=self.settings.quality,
        )  # fmt: skip
        alert_on_quality(
            run, settings=self.settings.alerts, root=self.root, repo_root=self.repo_root
        )

    def run_failed(self, failure: SyncFailure, /) -> None:
        """Alert on a sync run that was blocked, failed or failed validation, through the
        alert routes (critical, except a failed validation: warn).

        Example:
            >>> monitor.run_failed(failure)  # doctest: +SKIP
        """
        severity = Severity.WARN if failure.outcome == "validation_failed" else Severity.CRITICAL
        fix = {
            "blocked": "fix the source or define a new version, then rerun",
            "failed": "fix the cause and rerun (the watermark did not move)",
            "validation_failed": "look at the mismatches (parity audit), fix, rerun",
        }.get(failure.outcome, "look at the sync record")
        alert = failure_alert(
            "sync_failed",
            failure.ref,
            f"sync run {failure.outcome}: {failure.error}. What to do: {fix}.",
            severity=severity,
            evidence={"run_id": failure.run_id, "outcome": failure.outcome},
            now=failure.at,
        )
        dispatch_failures(
            [alert], settings=self.settings.alerts, root=self.root, repo_root=self.repo_root
        )

    def check_push(
        self,
        view: FeatureView,
        rows: pa.Table,
        *,
        version: int,
        validation: ValidationResult,
        now: datetime,
    ) -> QualityRun:
        """Quality of one pushed batch for one view version; stored and alerted if not
        ``pass``.

        Example:
            >>> monitor.check_push(view, table, version=1, validation=result,
            ...                    now=now).severity  # doctest: +SKIP
            <CheckSeverity.PASS: 'pass'>
        """
        run = check_batch(
            view, rows, version=version, source="push", now=now, validation=validation,
            settings=self.settings.quality,
        )  # fmt: skip
        if run.severity is not CheckSeverity.PASS:
            record_quality(self.root, run)
            alert_on_quality(
                run, settings=self.settings.alerts, root=self.root, repo_root=self.repo_root
            )
        return run
