"""Snapshots built in memory from plans, so the planner and pin rules are tested alone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from parity.registry import ObjectKind, Plan, RegistrySnapshot, VersionRecord, VersionState
from parity.registry.plan import spec_fingerprint

AT = datetime(2026, 1, 1, tzinfo=UTC)


def applied(snapshot: RegistrySnapshot, plan: Plan) -> RegistrySnapshot:
    """The snapshot a registry would hold after applying ``plan`` (no lifecycle moves)."""
    versions = {key: list(history) for key, history in snapshot.versions.items()}
    pins = dict(snapshot.pins)
    for change in plan.effective:
        history = versions.setdefault((change.kind, change.name), [])
        assert change.to_version is not None
        if change.creates_version:
            assert change.state is not None
            history.append(
                VersionRecord(
                    change.kind,
                    change.name,
                    change.to_version,
                    change.state,
                    change.spec,
                    spec_fingerprint(change.spec),
                    0,
                    AT,
                    AT,
                )
            )
            if change.kind is ObjectKind.FEATURE_SERVICE:
                pins[(change.name, change.to_version)] = change.pins
        else:
            old = history[-1]
            history[-1] = replace(old, spec=change.spec, revision=old.revision + 1)
    return RegistrySnapshot(
        snapshot.project,
        snapshot.generation + 1,
        {key: tuple(history) for key, history in versions.items()},
        pins,
    )


def with_states(
    snapshot: RegistrySnapshot, moves: Iterable[tuple[ObjectKind, str, int, VersionState]]
) -> RegistrySnapshot:
    """``snapshot`` with some versions moved to another state."""
    versions: dict[tuple[ObjectKind, str], Any] = dict(snapshot.versions)
    for kind, name, version, state in moves:
        versions[(kind, name)] = tuple(
            replace(r, state=state) if r.version == version else r for r in versions[(kind, name)]
        )
    return replace(snapshot, versions=versions)
