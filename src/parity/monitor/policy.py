"""What follows a monitor's verdict: the inconsistency policy, and alerts on quality runs.

:func:`apply_inconsistency_policy` takes a finished audit. When the view version is
``inconsistent`` it acts by its policy and records what it did in the audit's
``action``, then raises the alerts the rules give (always, whatever the policy):

- ``alert``: nothing more;
- ``block``: the stored audit blocks the version; feature servers answer 503 for it until
  a later audit passes or ``parity unblock`` (:mod:`parity.monitor.blocking`);
- ``resync``: a full re-materialization of the version through the sync controller
  (event times from the epoch to now, validated like every sync run, recorded in the
  registry's sync records); the audit's action names the run and its outcome.

:func:`alert_on_quality` routes a sync or push quality run through the alert rules
(``quality_failed_checks``, and ``quality_warned_checks`` when a rule names it); the
monitor's observer of sync runs and pushes (:mod:`parity.monitor.observer`) calls it.

Both evaluate the rules first and touch the stored alerts only when one fires, so a
passing run costs no I/O.

Example:
    >>> report, alerts = apply_inconsistency_policy(report, controller=store.sync_controller,
    ...     settings=config, root=root, repo_root=store.repo_path)  # doctest: +SKIP
    >>> report.action  # doctest: +SKIP
    'blocked from serving until an audit passes or parity unblock user_stats@v1'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from parity.monitor.alerts import Alert, Observation, alert_dispatcher, alert_rules, evaluate
from parity.monitor.audit import AuditReport, ConsistencyStatus
from parity.monitor.config import AlertSettings, InconsistencyPolicy, MonitorConfig
from parity.monitor.quality import QualityRun

if TYPE_CHECKING:
    from parity.sync.controller import SyncController

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dispatch_observations(
    observations: Sequence[Observation],
    *,
    settings: AlertSettings,
    root: Path,
    repo_root: Path,
    now: datetime | None = None,
) -> list[Alert]:
    """Evaluate the rules on ``observations``; deliver and store what they raise.

    Example:
        >>> dispatch_observations([], settings=AlertSettings(), root=Path("m"),
        ...                       repo_root=Path("."))
        []
    """
    now = datetime.now(UTC) if now is None else now
    raised = evaluate(alert_rules(settings), observations, now=now)
    if not raised:
        return []
    return alert_dispatcher(settings, root, repo_root).dispatch(raised, now=now)


def resync(controller: SyncController, report: AuditReport, *, now: datetime) -> str:
    """Re-materialize the audited version in full; the action text that records it.

    A resync that fails or is blocked (the source is unreadable, its schema changed, the
    registry is down) is recorded as such, with its error: the audit and its alert must
    not be lost with it.
    """
    from parity.errors import ParityError

    try:
        run = controller.materialize(report.view, report.version, start=EPOCH, end=now)
    except ParityError as exc:
        return f"resync failed: {type(exc).__name__}: {exc}"
    if run.error is not None:  # a blocked run: the rows did not pass the schema checks
        return f"resync {run.outcome.value}: sync run {run.run_id}: {run.error}"
    validation = "" if run.validation is None else (
        ", validation passed" if run.validation.passed else ", validation failed"
    )  # fmt: skip
    return (
        f"resynced: sync run {run.run_id} {run.outcome.value}, {run.rows_written:,} rows "
        f"written{validation}"
    )


def apply_inconsistency_policy(
    report: AuditReport,
    *,
    controller: SyncController | None,
    settings: MonitorConfig,
    root: Path,
    repo_root: Path,
    now: datetime | None = None,
) -> tuple[AuditReport, list[Alert]]:
    """Act on an audit by its policy (see the module doc); return it with its action, and
    the alerts raised. The caller stores the returned audit (``store_audit``).

    Example:
        >>> import tempfile
        >>> repo, at = Path(tempfile.mkdtemp()), datetime(2026, 1, 1, tzinfo=UTC)
        >>> report = AuditReport("a1", "user_stats", 1, at, "sync", sampled=200, disagreeing=2,
        ...     max_mismatch_rate=0.0, policy=InconsistencyPolicy.ALERT, features=())
        >>> apply_inconsistency_policy(report, controller=None, settings=MonitorConfig(),
        ...     root=repo / "monitoring", repo_root=repo, now=at)[0].action
        'alerted'
    """
    now = datetime.now(UTC) if now is None else now
    if report.status is not ConsistencyStatus.INCONSISTENT:
        return report, []
    action = "alerted"
    if report.policy is InconsistencyPolicy.BLOCK:
        action = f"blocked from serving until an audit passes or parity unblock {report.ref}"
    elif report.policy is InconsistencyPolicy.RESYNC:
        if controller is None:
            action = "resync skipped: no sync controller given"
        else:
            action = resync(controller, report, now=now)
    report = replace(report, action=action)
    alerts = dispatch_observations(
        report.observations(), settings=settings.alerts, root=root, repo_root=repo_root, now=now
    )
    return report, alerts


def alert_on_quality(
    run: QualityRun, *, settings: AlertSettings, root: Path, repo_root: Path
) -> list[Alert]:
    """The alerts a quality run raises, delivered and stored (none for a passing run).

    Example:
        >>> import tempfile
        >>> repo = Path(tempfile.mkdtemp())
        >>> run = QualityRun("r1", datetime(2026, 1, 1, tzinfo=UTC), "user_stats", 1, "sync",
        ...                  rows=10, checks=())
        >>> alert_on_quality(run, settings=AlertSettings(), root=repo / "monitoring",
        ...                  repo_root=repo)
        []
    """
    if run.failed == 0 and run.warned == 0:
        return []
    return dispatch_observations(
        run.observations(), settings=settings, root=root, repo_root=repo_root, now=run.at
    )
