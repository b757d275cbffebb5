"""The records the registry stores: kinds, lifecycle states, versions, pins, audit, syncs.

Plain frozen dataclasses and enums, imported by the registry interface
(:mod:`parity.registry.base`), the planner (:mod:`parity.registry.plan`) and pin
resolution (:mod:`parity.registry.pins`) alike, so none of them imports another to name a
record.

Example:
    >>> VersionState.PENDING.value
    'pending'
    >>> TRANSITIONS[VersionState.SERVING] == {VersionState.DEPRECATED}
    True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ObjectKind(enum.StrEnum):
    """What a registry record describes."""

    ENTITY = "entity"
    FEATURE_VIEW = "feature_view"
    FEATURE_SERVICE = "feature_service"

    @property
    def label(self) -> str:
        """Human spelling (``feature view``)."""
        return self.value.replace("_", " ")


class VersionState(enum.StrEnum):
    """Lifecycle of one version: pending -> serving -> deprecated -> retired."""

    # Registered but not yet validated; consumers pinned to it get no online values yet.
    PENDING = "pending"
    # Validated and readable online; several versions of a view may serve at once.
    SERVING = "serving"
    # Still readable, but consumers should move off it; no new pins resolve to it.
    DEPRECATED = "deprecated"
    # Gone: online keys removed, never readable again. Terminal.
    RETIRED = "retired"


# Allowed lifecycle moves. Deprecated -> serving is an undo; nothing leaves retired.
TRANSITIONS: Mapping[VersionState, frozenset[VersionState]] = {
    VersionState.PENDING: frozenset({VersionState.SERVING, VersionState.RETIRED}),
    VersionState.SERVING: frozenset({VersionState.DEPRECATED}),
    VersionState.DEPRECATED: frozenset({VersionState.SERVING, VersionState.RETIRED}),
    VersionState.RETIRED: frozenset(),
}


@dataclass(frozen=True)
class VersionRecord:
    """One stored version of one object.

    ``revision`` counts in-place (metadata or compatible) updates of this version.
    """

    kind: ObjectKind
    name: str
    version: int
    state: VersionState
    spec: Mapping[str, Any]
    fingerprint: str
    revision: int
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True)
class ServicePin:
    """Position ``position`` of a service version's output: one feature of one view version."""

    position: int
    view: str
    view_version: int
    feature: str
    output_name: str


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, when, and why."""

    id: int
    at: datetime
    actor: str
    action: str
    kind: ObjectKind
    name: str
    version: int | None
    change_class: str
    summary: str
    message: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncRecord:
    """One synchronization run of one view version (filled by the sync controller)."""

    run_id: str
    view: str
    view_version: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    watermark: datetime | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    delay_seconds: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncSchedule:
    """The scheduler's state of one view version: when its next sync is due, why, and who
    holds its lease (one scheduled run per view version at a time, across every copy).

    ``holder``/``lease_expires_at``: the scheduler running it now (None: nobody); a lease
    that expired belongs to a copy that died and may be taken over. ``missed_refreshes``:
    how many whole intervals went by without a run, counted since the first schedule.
    ``decision``: the policy's explanation of ``next_due_at`` (mode, interval, inputs).

    Example:
        >>> SyncSchedule("user_stats", 1).missed_refreshes
        0
    """

    view: str
    view_version: int
    next_due_at: datetime | None = None
    last_run_at: datetime | None = None
    missed_refreshes: int = 0
    holder: str | None = None
    lease_expires_at: datetime | None = None
    decision: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistrySnapshot:
    """Everything the registry holds for one project, read in one transaction.

    ``versions`` maps ``(kind, name)`` to that object's versions in ascending order;
    ``pins`` maps ``(service, version)`` to its pins in canonical order.
    """

    project: str
    generation: int
    versions: Mapping[tuple[ObjectKind, str], Sequence[VersionRecord]]
    pins: Mapping[tuple[str, int], Sequence[ServicePin]]

    def names(self, kind: ObjectKind) -> list[str]:
        """Sorted names of the objects of ``kind``."""
        return sorted(name for k, name in self.versions if k is kind)

    def history_of(self, kind: ObjectKind, name: str) -> Sequence[VersionRecord]:
        """All versions of one object (empty if unknown)."""
        return self.versions.get((kind, name), ())

    def latest(self, kind: ObjectKind, name: str) -> VersionRecord | None:
        """The highest version, whatever its state."""
        history = self.history_of(kind, name)
        return history[-1] if history else None

    def get(self, kind: ObjectKind, name: str, version: int) -> VersionRecord | None:
        """One exact version, or None."""
        for record in self.history_of(kind, name):
            if record.version == version:
                return record
        return None


@dataclass(frozen=True)
class Actor:
    """Who is acting, and the context recorded with an audit entry (host, git commit)."""

    name: str
    context: Mapping[str, Any] = field(default_factory=dict)
