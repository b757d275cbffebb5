"""Where retraining alerts go: the monitor's alert routes, like every other alert.

:class:`AlertSink` is the seam: one method. :class:`LedgerAlertSink` stores alerts in the
retraining ledger (``retrain_alerts``, what ``parity retrain status`` shows);
:class:`RoutedAlertSink` (the loop's default) stores them there too and delivers them
through ``monitoring.alerts`` (routes, dedupe, rate limit), so ``parity alerts``, the
webhook and command routes see them, and a failure repeated on every scheduler pass is
delivered once per dedupe window.

Example:
    >>> sink = MemoryAlertSink()
    >>> sink.alert("fraud_model", Severity.CRITICAL, "training failed", {"run_id": "r1"})
    >>> sink.alerts[0][1].value
    'critical'
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from parity.monitor.alerts import Alert as MonitorAlert
    from parity.monitor.config import AlertSettings
    from parity.retrain.ledger import Ledger

logger = logging.getLogger("parity.retrain")


class Severity(enum.StrEnum):
    """How urgent a retraining alert is."""

    # Worth a look: a metric dip, drift without harm, a rejected candidate.
    WARN = "warn"
    # A person must act: a failed run, the loop breaker tripped, a model that cannot load.
    CRITICAL = "critical"


class AlertSink(Protocol):
    """Receives alerts; must not raise for delivery problems it can record instead."""

    def alert(
        self, model: str, severity: Severity, message: str, evidence: Mapping[str, Any]
    ) -> None:
        """Deliver or store one alert."""


class LedgerAlertSink:
    """Stores alerts in the ``retrain_alerts`` table of the registry database.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> from parity.retrain.ledger import Ledger
        >>> ledger = Ledger(open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp()),
        ...                 project="fraud")
        >>> LedgerAlertSink(ledger).alert("m", Severity.WARN, "dip", {})
        >>> [(a["severity"], a["message"]) for a in ledger.alerts("m")]
        [('warn', 'dip')]
    """

    def __init__(self, ledger: Ledger, *, clock: Callable[[], datetime] | None = None) -> None:
        self._ledger = ledger
        self._clock = clock or (lambda: datetime.now(UTC))

    def alert(
        self, model: str, severity: Severity, message: str, evidence: Mapping[str, Any]
    ) -> None:
        """Record the alert; if the database cannot take it, log it instead (never raise)."""
        import sqlalchemy as sa

        try:
            self._ledger.record_alert(
                model,
                severity=severity.value,
                message=message,
                evidence=evidence,
                now=self._clock(),
            )
        except sa.exc.SQLAlchemyError as exc:
            logger.error(
                "retrain alert not recorded (%r): %s %s: %s", exc, severity, model, message
            )


class RoutedAlertSink:
    """Records each alert in the ledger and delivers it through the monitor's alert routes.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from parity.monitor.config import AlertSettings
        >>> root = Path(tempfile.mkdtemp())
        >>> memory = MemoryAlertSink()
        >>> sink = RoutedAlertSink(memory, AlertSettings(routes=[]), root=root / "m",
        ...                        repo_root=root)
        >>> sink.alert("fraud_model", Severity.CRITICAL, "training failed", {})
        >>> [a.rule for a in sink.delivered]
        ['retraining']
    """

    def __init__(
        self,
        ledger: AlertSink,
        settings: AlertSettings,
        *,
        root: Path,
        repo_root: Path,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._ledger = ledger
        self._settings = settings
        self._root = root
        self._repo_root = repo_root
        self._clock = clock or (lambda: datetime.now(UTC))
        self.delivered: list[MonitorAlert] = []

    def alert(
        self, model: str, severity: Severity, message: str, evidence: Mapping[str, Any]
    ) -> None:
        """Record in the ledger, then deliver (a delivery problem is logged, never raised)."""
        from parity.monitor.alerts import Severity as MonitorSeverity
        from parity.monitor.failures import dispatch_failures, failure_alert

        self._ledger.alert(model, severity, message, evidence)
        raised = failure_alert(
            "retraining",
            model,
            message,
            severity=MonitorSeverity(severity.value),
            evidence=evidence,
            now=self._clock(),
        )
        try:
            self.delivered.extend(
                dispatch_failures(
                    [raised], settings=self._settings, root=self._root, repo_root=self._repo_root
                )
            )
        except Exception as exc:  # the ledger has it; a broken alert table must not stop a run
            logger.error(
                "retrain alert not delivered (%r): %s %s: %s", exc, severity, model, message
            )


class MemoryAlertSink:
    """Keeps alerts in a list (for embedding and tests)."""

    def __init__(self) -> None:
        self.alerts: list[tuple[str, Severity, str, Mapping[str, Any]]] = []

    def alert(
        self, model: str, severity: Severity, message: str, evidence: Mapping[str, Any]
    ) -> None:
        """Append the alert."""
        self.alerts.append((model, severity, message, dict(evidence)))
