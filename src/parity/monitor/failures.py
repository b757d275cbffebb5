"""Failures a person must act on, as alerts through the same routes as every other alert.

Thresholds turn measurements into alerts (:mod:`parity.monitor.alerts`); a failure is an
alert already: a sync run that was blocked or failed, a version that failed validation,
a retraining run that failed or a loop breaker that tripped. :func:`failure_alert` builds
one, :func:`dispatch_failures` delivers it through ``monitoring.alerts`` (routes, dedupe,
rate limit) and stores it with the others, so ``parity alerts`` shows it.

The same failure repeated (the same rule, subject, severity and ``topic``) is delivered
once per dedupe window: a scheduler pass that meets the same tripped breaker every minute
raises one alert, stored as duplicates after it.

Example:
    >>> from datetime import UTC, datetime
    >>> alert = failure_alert("sync_failed", "stats@v2", "blocked: column 'spend' is missing",
    ...                       now=datetime(2026, 1, 1, tzinfo=UTC))
    >>> alert.summary
    "critical: sync_failed of stats@v2: blocked: column 'spend' is missing"
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parity.monitor.alerts import Alert, Severity, alert_dispatcher
from parity.monitor.config import AlertSettings

__all__ = ["dispatch_failures", "failure_alert", "failure_topic"]

# Run ids, versions, counts and times vary between repetitions of one failure.
_VARYING = re.compile(r"[0-9a-f]{12,}|\d+(\.\d+)?")


def failure_topic(message: str) -> str:
    """What makes two failure messages the same failure: the message without its numbers
    and ids (so a repeated failure is recognised as a repeat).

    Example:
        >>> failure_topic("run 3f2a9c1b7d4e5f60 failed after 12 s")
        'run # failed after # s'
    """
    return _VARYING.sub("#", message)[:200]


def failure_alert(
    rule: str,
    subject: str,
    message: str,
    *,
    severity: Severity = Severity.CRITICAL,
    evidence: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Alert:
    """One failure as an alert (not yet delivered).

    Example:
        >>> failure_alert("retraining", "fraud_model", "loop breaker tripped",
        ...               severity=Severity.CRITICAL).rule
        'retraining'
    """
    return Alert(
        alert_id=uuid.uuid4().hex,
        at=datetime.now(UTC) if now is None else now,
        rule=rule,
        metric=rule,
        severity=severity,
        subject=subject,
        value=1.0,
        threshold=None,
        summary=f"{severity.value}: {rule} of {subject}: {message}",
        evidence=dict(evidence or {}),
        topic=failure_topic(message),
    )


def dispatch_failures(
    alerts: Sequence[Alert], *, settings: AlertSettings, root: Path, repo_root: Path
) -> list[Alert]:
    """Deliver and store failure alerts through the configured routes; returns them with
    their delivery outcome.

    Example:
        >>> dispatch_failures([], settings=AlertSettings(), root=Path("m"), repo_root=Path("."))
        []
    """
    if not alerts:
        return []
    return alert_dispatcher(settings, root, repo_root).dispatch(alerts, now=alerts[0].at)
