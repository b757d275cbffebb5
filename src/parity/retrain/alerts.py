"""Where retraining alerts go until the monitor's alert routes take them.

:class:`AlertSink` is the seam: one method. :class:`LedgerAlertSink` stores alerts in the
retraining ledger (``retrain_alerts``); a sink forwarding to the monitor's dispatcher is
one more class.

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


class MemoryAlertSink:
    """Keeps alerts in a list (for embedding and tests)."""

    def __init__(self) -> None:
        self.alerts: list[tuple[str, Severity, str, Mapping[str, Any]]] = []

    def alert(
        self, model: str, severity: Severity, message: str, evidence: Mapping[str, Any]
    ) -> None:
        """Append the alert."""
        self.alerts.append((model, severity, message, dict(evidence)))
