"""The sync scheduler: run ``materialize-incremental`` per view version when it is due.

Each :meth:`SyncScheduler.tick` reads the registry once, finds every live online view
version with a policy (``sync.schedule.views`` in parity.yaml, else the definition's
``freshness.refresh_every``), and for each one that is due takes its lease in the registry
database (:meth:`parity.registry.Registry.claim_sync`), runs the sync, asks the policy for
the next due time (:func:`parity.sync.schedule_policy.decide`), and stores it with the
decision and the missed refreshes while freeing the lease. Several copies may run at once
(on several hosts): a view version is synced by one copy at a time, and a copy that dies
loses its leases after ``lease_seconds``. A run that lasts longer renews its lease every
third of it. Failures are recorded by the sync controller; the scheduler carries on.

Example:
    >>> scheduler = store.sync_scheduler(holder="host-a")  # doctest: +SKIP
    >>> [run.outcome for run in scheduler.tick()]  # doctest: +SKIP
    ['succeeded', 'not due']
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from parity.errors import ParityError
from parity.registry import ObjectKind, Registry, RegistrySnapshot, SyncSchedule
from parity.sync.config import ScheduleConfig, SyncPolicy
from parity.sync.report import SyncReport
from parity.sync.schedule_policy import decide
from parity.sync.targets import sync_targets

__all__ = ["RunSync", "ScheduledRun", "SyncScheduler", "policy_for"]

logger = logging.getLogger("parity.sync")

RunSync = Callable[[str, int, datetime], SyncReport]
"""Runs one incremental sync of ``(view, version)`` at the instant given."""


@dataclass(frozen=True)
class ScheduledRun:
    """What one tick did for one view version.

    ``outcome``: the sync's outcome (``succeeded``, ``failed``, ...), or ``not due``,
    ``leased`` (another copy holds it) or ``lease lost`` (it expired mid-run).

    Example:
        >>> ScheduledRun("user_stats", 1, "not due").ref
        'user_stats@v1'
    """

    view: str
    version: int
    outcome: str
    next_due_at: datetime | None = None
    missed_refreshes: int = 0
    decision: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return f"{self.view}@v{self.version}"


def policy_for(
    config: ScheduleConfig, snapshot: RegistrySnapshot, view: str, version: int
) -> tuple[SyncPolicy, str] | None:
    """The view version's policy and where it comes from (None: not scheduled).

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> policy_for(ScheduleConfig(), RegistrySnapshot("p", 0, {}, {}), "user_stats", 1)
    """
    if view in config.views:
        return config.views[view], "parity.yaml sync.schedule"
    record = snapshot.get(ObjectKind.FEATURE_VIEW, view, version)
    freshness = None if record is None else record.spec.get("freshness")
    every = None if not freshness else freshness.get("refresh_every_seconds")
    if every is None:
        return None
    return SyncPolicy(every_seconds=float(every)), "freshness.refresh_every"


class SyncScheduler:
    """Runs due syncs, one copy per view version at a time (see the module docstring).

    Example:
        >>> SyncScheduler(project="p", registry=registry, run=run, config=ScheduleConfig(),
        ...               holder="host-a", clock=clock).tick()  # doctest: +SKIP
        []
    """

    def __init__(
        self,
        *,
        project: str,
        registry: Registry,
        run: RunSync,
        config: ScheduleConfig,
        holder: str,
        clock: Callable[[], datetime],
        history_runs: int = 50,
    ) -> None:
        self._project = project
        self._registry = registry
        self._run = run
        self._config = config
        self._holder = holder
        self._clock = clock
        self._history_runs = history_runs

    @property
    def holder(self) -> str:
        """This copy's name in the leases it takes."""
        return self._holder

    def tick(self) -> list[ScheduledRun]:
        """One pass: sync every due view version this copy can lease."""
        snapshot = self._registry.snapshot(self._project)
        schedules = {
            (s.view, s.view_version): s for s in self._registry.sync_schedules(self._project)
        }
        results: list[ScheduledRun] = []
        for view, version in sync_targets(snapshot, None):
            found = policy_for(self._config, snapshot, view, version)
            if found is None:
                continue
            current = schedules.get((view, version))
            if current is not None and not self._due(current):
                results.append(self._skipped(current, "not due"))
                continue
            results.append(self._run_leased(view, version, *found))
        return results

    def _due(self, schedule: SyncSchedule) -> bool:
        return schedule.next_due_at is None or schedule.next_due_at <= self._clock()

    @staticmethod
    def _skipped(schedule: SyncSchedule, outcome: str) -> ScheduledRun:
        return ScheduledRun(
            schedule.view,
            schedule.view_version,
            outcome,
            schedule.next_due_at,
            schedule.missed_refreshes,
            schedule.decision,
        )

    def _run_leased(self, view: str, version: int, policy: SyncPolicy, source: str) -> ScheduledRun:
        lease = self._config.lease_seconds
        claimed = self._registry.claim_sync(
            self._project, view, version, holder=self._holder, now=self._clock(), lease=lease
        )
        if claimed is None:
            return ScheduledRun(view, version, "leased")
        if not self._due(claimed):  # another copy ran it between our read and our claim
            self._registry.release_sync(self._project, claimed, holder=self._holder)
            return self._skipped(claimed, "not due")
        started = self._clock()
        missed = self._missed(claimed, started)
        try:
            with self._renewing(view, version, lease):
                outcome = self._run(view, version, started).outcome.value
        except ParityError as exc:  # recorded (and alerted) by the controller: carry on
            logger.error("%s@v%d: scheduled sync failed: %s", view, version, exc)
            outcome = f"failed: {type(exc).__name__}"
        except BaseException:
            # Not parity's: free the lease as it was (still due) and let the error out.
            self._registry.release_sync(self._project, claimed, holder=self._holder)
            raise
        now = self._clock()
        history = self._registry.sync_records(
            self._project, view, version, limit=self._history_runs
        )
        decision = decide(policy, now=now, history=history, source=source)
        details = {
            **decision.to_dict(),
            "missed_refreshes": missed,
            "last_outcome": outcome,
        }
        schedule = replace(
            claimed,
            next_due_at=decision.next_due_at,
            last_run_at=started,
            missed_refreshes=claimed.missed_refreshes + missed,
            decision=details,
        )
        if not self._registry.release_sync(self._project, schedule, holder=self._holder):
            logger.warning("%s@v%d: the sync lease expired during the run", view, version)
            return ScheduledRun(view, version, "lease lost", decision=details)
        if missed:
            logger.warning("%s@v%d: %d scheduled refresh(es) missed", view, version, missed)
        return ScheduledRun(
            view,
            version,
            outcome,
            decision.next_due_at,
            schedule.missed_refreshes,
            details,
        )

    @staticmethod
    def _missed(schedule: SyncSchedule, now: datetime) -> int:
        """Whole intervals that went by after the due time without a run."""
        interval = float(schedule.decision.get("interval_seconds") or 0.0)
        if schedule.next_due_at is None or interval <= 0 or now <= schedule.next_due_at:
            return 0
        return int((now - schedule.next_due_at).total_seconds() // interval)

    @contextmanager
    def _renewing(self, view: str, version: int, lease: float) -> Iterator[None]:
        """Renew the lease every third of ``lease`` (wall time) while the block runs."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(lease / 3):
                until = self._clock() + timedelta(seconds=lease)
                if not self._registry.renew_sync(
                    self._project, view, version, holder=self._holder, until=until
                ):
                    logger.error("%s@v%d: lost the sync lease while running", view, version)
                    return

        thread = threading.Thread(target=renew, name=f"lease-{view}@v{version}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
