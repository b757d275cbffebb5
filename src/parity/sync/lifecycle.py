"""The promotion policy: which lifecycle moves are allowed, and what they do beyond the
registry's state change.

A version moves ``pending -> serving -> deprecated -> retired`` (the registry enforces the
graph, :data:`~parity.registry.records.TRANSITIONS`). This module adds the policy around
it: a move names one exact version (``name@vN``), an online view version is promoted only
after a sync validated it (or with ``force``, which the audit entry records), and retiring
a view version removes its online values.

Example:
    >>> lifecycle = Lifecycle(registry, project="fraud", online=lambda: online,
    ...                       actor=lambda: Actor("ci"))  # doctest: +SKIP
    >>> lifecycle.promote("user_stats@v2", message="validated").state  # doctest: +SKIP
    <VersionState.SERVING: 'serving'>
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parity.definitions import FeatureView, parse_versioned_name
from parity.errors import AmbiguousReference, InvalidTransition
from parity.online.base import OnlineStore, ViewTable
from parity.registry import Actor, ObjectKind, Plan, Registry, VersionRecord, VersionState
from parity.registry.references import resolve_reference, versions_of
from parity.sync.report import SyncOutcome

__all__ = ["Lifecycle"]

# How many of a version's sync runs are searched for its last successful validation.
_SYNC_RUNS_SEARCHED = 1000


@dataclass(frozen=True)
class Lifecycle:
    """Lifecycle moves of one project's versions, with the promotion policy.

    ``online`` is called only when a view version is retired (its values are removed), so
    promoting never opens the online store; ``actor`` is asked at each move (the audit
    entry records who).

    Example:
        >>> import tempfile
        >>> from parity.registry import open_registry
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> registry = open_registry(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> lifecycle = Lifecycle(registry, project="fraud", online=lambda: None,
        ...                       actor=lambda: Actor("ci"))
        >>> lifecycle.deprecate("user_stats@v1")
        Traceback (most recent call last):
        ...
        parity.errors.ObjectNotFound: Unknown object 'user_stats'.
    """

    registry: Registry
    project: str
    online: Callable[[], OnlineStore]
    actor: Callable[[], Actor]

    def _move(self, ref: str, target: VersionState, message: str) -> VersionRecord:
        snapshot = self.registry.snapshot(self.project)
        name, version = parse_versioned_name(ref)
        record = resolve_reference(snapshot, ref)
        if version is None and record.kind is not ObjectKind.ENTITY:
            # A lifecycle move must say which version it means; guessing could retire the wrong one.
            known = versions_of(snapshot, name, kind=record.kind)
            raise AmbiguousReference(
                f"{target.value}: say which version, e.g. '{name}@v{record.version}'. "
                f"Versions: {', '.join(r.ref for r in known)}."
            )
        return self.registry.transition(
            self.project,
            record.kind,
            record.name,
            record.version,
            target,
            actor=self.actor(),
            message=message,
        )

    def require_validated(self, record: VersionRecord, /) -> None:
        """Refuse (:class:`~parity.errors.InvalidTransition`) a view version whose last
        successful sync did not pass validation, or that was never synchronized.

        Example:
            >>> lifecycle.require_validated(record)  # doctest: +SKIP
        """
        runs = self.registry.sync_records(
            self.project, record.name, record.version, limit=_SYNC_RUNS_SEARCHED
        )
        for run in runs:
            if run.outcome == SyncOutcome.SUCCEEDED:
                validation = run.details.get("validation", {})
                if validation.get("passed"):
                    return
                raise InvalidTransition(
                    f"{record.ref} did not pass validation in its last sync ({validation}). "
                    "Fix the data and materialize again, or promote with --force."
                )
        raise InvalidTransition(
            f"{record.ref} has never been synchronized, so it is not validated. Run "
            f"'parity materialize START END --view {record.ref}' first (or promote with --force)."
        )

    def promote(self, ref: str, /, *, message: str = "", force: bool = False) -> VersionRecord:
        """Make a version serve (``pending`` or ``deprecated`` -> ``serving``).

        An online view version must have passed a sync validation first; ``force=True``
        skips that check, and the audit entry says so.

        Example:
            >>> lifecycle.promote("user_stats@v2", force=True).state  # doctest: +SKIP
            <VersionState.SERVING: 'serving'>
        """
        record = resolve_reference(self.registry.snapshot(self.project), ref)
        if record.kind is ObjectKind.FEATURE_VIEW and record.spec.get("online", True) and not force:
            self.require_validated(record)
        if force:
            message = f"{message} [forced: validation skipped]".strip()
        return self._move(ref, VersionState.SERVING, message)

    def deprecate(self, ref: str, /, *, message: str = "") -> VersionRecord:
        """Mark a serving version deprecated: consumers should move off it.

        Example:
            >>> lifecycle.deprecate("user_stats@v1").state  # doctest: +SKIP
            <VersionState.DEPRECATED: 'deprecated'>
        """
        return self._move(ref, VersionState.DEPRECATED, message)

    def retire(self, ref: str, /, *, message: str = "") -> VersionRecord:
        """Retire a deprecated or pending version for good; a view version's online values
        are removed.

        Example:
            >>> lifecycle.retire("user_stats@v1").state  # doctest: +SKIP
            <VersionState.RETIRED: 'retired'>
        """
        record = self._move(ref, VersionState.RETIRED, message)
        if record.kind is ObjectKind.FEATURE_VIEW:
            view = FeatureView.from_dict(record.spec)
            self.online().delete_table(
                ViewTable.from_view(view, project=self.project, version=record.version)
            )
        return record

    def repin(self, service: str, /, *, message: str = "") -> Plan:
        """Move a service onto the newest serving view versions (a new service version).

        Example:
            >>> lifecycle.repin("fraud_detection").changes  # doctest: +SKIP
        """
        return self.registry.repin(self.project, service, actor=self.actor(), message=message)
