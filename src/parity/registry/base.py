"""The registry interface.

The registry is the source of truth for what exists: every version of every entity,
feature view and feature service, each version's lifecycle state, the exact view versions
each service version pins (in canonical feature order), an audit log of every change, and
the sync runs that later publish data. It speaks the plain frozen dataclasses of
:mod:`parity.registry.records` (re-exported here).

Example:
    >>> VersionState.PENDING.value
    'pending'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING

from parity.registry.records import (
    TRANSITIONS,
    Actor,
    AuditEntry,
    ObjectKind,
    RegistrySnapshot,
    ServicePin,
    SyncRecord,
    SyncSchedule,
    VersionRecord,
    VersionState,
)

if TYPE_CHECKING:
    from parity.definitions import RepoContents
    from parity.registry.plan import Plan

__all__ = [
    "TRANSITIONS",
    "Actor",
    "AuditEntry",
    "ObjectKind",
    "Registry",
    "RegistrySnapshot",
    "ServicePin",
    "SyncRecord",
    "SyncSchedule",
    "VersionRecord",
    "VersionState",
]


class Registry(ABC):
    """Versioned store of definitions. One implementation per database family.

    Example:
        >>> import tempfile
        >>> from parity.registry import open_registry
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> registry = open_registry(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> registry.snapshot("fraud").generation
        0
    """

    @abstractmethod
    def snapshot(self, project: str) -> RegistrySnapshot:
        """Read every version and pin of ``project`` consistently."""

    @abstractmethod
    def generation(self, project: str) -> int:
        """The project's write counter: every write that changes what :meth:`snapshot`
        returns increases it (0 before the first), so an equal generation means an equal
        snapshot. One cheap query: a reader keeps a snapshot until it changes."""

    @abstractmethod
    def apply(
        self,
        project: str,
        repo: RepoContents,
        *,
        actor: Actor,
        message: str,
    ) -> Plan:
        """Classify ``repo`` against the current state and write it, atomically.

        The plan is computed under the project lock, so two concurrent applies are
        serialised and neither loses the other's update. A refused change raises
        :class:`parity.errors.ChangeRefused` and writes nothing.
        """

    @abstractmethod
    def transition(
        self,
        project: str,
        kind: ObjectKind,
        name: str,
        version: int,
        target: VersionState,
        *,
        actor: Actor,
        message: str,
    ) -> VersionRecord:
        """Move one version through its lifecycle (see :data:`TRANSITIONS`)."""

    @abstractmethod
    def repin(self, project: str, service: str, *, actor: Actor, message: str) -> Plan:
        """Create a new service version pinned to the newest serving view versions."""

    @abstractmethod
    def history(
        self, project: str, name: str | None = None, *, limit: int = 200
    ) -> list[AuditEntry]:
        """Audit entries, newest first, optionally for one object name."""

    @abstractmethod
    def record_sync(self, project: str, record: SyncRecord) -> None:
        """Store (or update, by run id) one sync run."""

    @abstractmethod
    def sync_records(
        self, project: str, view: str, view_version: int | None = None, *, limit: int = 100
    ) -> list[SyncRecord]:
        """Sync runs of a view (optionally one version), newest first."""

    @abstractmethod
    def claim_sync(
        self, project: str, view: str, version: int, *, holder: str, now: datetime, lease: float
    ) -> SyncSchedule | None:
        """Take the sync lease of one view version for ``lease`` seconds from ``now``, if
        it is free, expired or ``holder``'s; return its schedule as it was (None: another
        scheduler holds it). Atomic across processes (the lock an apply takes)."""

    @abstractmethod
    def renew_sync(
        self, project: str, view: str, version: int, *, holder: str, until: datetime
    ) -> bool:
        """Extend ``holder``'s lease to ``until``; False if it lost the lease."""

    @abstractmethod
    def release_sync(self, project: str, schedule: SyncSchedule, *, holder: str) -> bool:
        """Store the new schedule and free the lease; False if ``holder`` lost it."""

    @abstractmethod
    def sync_schedules(self, project: str) -> list[SyncSchedule]:
        """Every view version's schedule (next due time, decision, lease)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
