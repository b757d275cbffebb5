"""Plans: what an apply (or a repin) would write, computed without touching storage.

:func:`plan_apply` classifies every object of a repository against a registry snapshot
(see :mod:`parity.registry.classify`), numbers new versions, and resolves the pins of new
service versions. It is a pure function; the registry runs it under its project lock.

Example:
    >>> plan_apply(empty_snapshot("demo"), RepoContents()).is_noop
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from parity.definitions import RepoContents
from parity.definitions.canonical import fingerprint
from parity.definitions.feature_service import check_transform_inputs
from parity.errors import FeatureServiceNotFound, did_you_mean
from parity.registry.classify import (
    ChangeClass,
    Difference,
    classify_entity,
    classify_service,
    classify_view,
)
from parity.registry.pins import resolve_pins
from parity.registry.records import (
    ObjectKind,
    RegistrySnapshot,
    ServicePin,
    VersionRecord,
    VersionState,
)


@dataclass(frozen=True)
class Change:
    """What apply does to one object.

    ``to_version`` is the version the repository definition lands in (new or in place);
    ``state`` is the state a newly created version starts in; ``pins`` are the pins of a
    newly created service version.
    """

    kind: ObjectKind
    name: str
    change_class: ChangeClass
    from_version: int | None
    to_version: int | None
    spec: Mapping[str, Any]
    differences: tuple[Difference, ...] = ()
    state: VersionState | None = None
    pins: tuple[ServicePin, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def creates_version(self) -> bool:
        """True when apply writes a new version row."""
        return self.change_class in (ChangeClass.NEW, ChangeClass.BREAKING)

    @property
    def updates_in_place(self) -> bool:
        """True when apply rewrites the spec of the existing version."""
        return self.change_class in (ChangeClass.METADATA, ChangeClass.COMPATIBLE)

    def summary(self) -> str:
        """One line for the audit log and the plan table."""
        ref = f"{self.name}@v{self.to_version}" if self.to_version else self.name
        if self.change_class is ChangeClass.NEW:
            return f"new {self.kind.label} {ref}"
        if self.change_class is ChangeClass.BREAKING:
            return f"breaking: {self.name}@v{self.from_version} -> {ref}"
        if self.change_class is ChangeClass.REFUSED:
            return f"refused: {self.name}"
        return f"{self.change_class.value}: {ref}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind.value,
            "name": self.name,
            "class": self.change_class.value,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "state": None if self.state is None else self.state.value,
            "differences": [d.to_dict() for d in self.differences],
            "pins": [
                {
                    "view": p.view,
                    "version": p.view_version,
                    "feature": p.feature,
                    "output": p.output_name,
                }
                for p in self.pins
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Plan:
    """The changes an apply makes, in dependency order (entities, views, services)."""

    project: str
    base_generation: int
    changes: tuple[Change, ...]
    not_in_repo: tuple[tuple[ObjectKind, str], ...] = field(default=())

    @property
    def has_breaking(self) -> bool:
        """True if any object gets a new version because of a breaking change."""
        return any(c.change_class is ChangeClass.BREAKING for c in self.changes)

    @property
    def refused(self) -> tuple[Change, ...]:
        """Changes that make the whole apply fail."""
        return tuple(c for c in self.changes if c.change_class is ChangeClass.REFUSED)

    @property
    def effective(self) -> tuple[Change, ...]:
        """Changes that write something."""
        return tuple(c for c in self.changes if c.change_class is not ChangeClass.UNCHANGED)

    @property
    def is_noop(self) -> bool:
        """True when apply would write nothing."""
        return not self.effective

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``parity plan --json``)."""
        return {
            "project": self.project,
            "base_generation": self.base_generation,
            "has_breaking": self.has_breaking,
            "refused": bool(self.refused),
            "changes": [c.to_dict() for c in self.changes],
            "not_in_repo": [{"kind": k.value, "name": n} for k, n in self.not_in_repo],
        }


# --- a whole apply ---------------------------------------------------------------------


def _serving_dependents(snapshot: RegistrySnapshot, entity: str) -> list[str]:
    out = []
    for name in snapshot.names(ObjectKind.FEATURE_VIEW):
        for record in snapshot.history_of(ObjectKind.FEATURE_VIEW, name):
            if record.state is VersionState.SERVING and any(
                e["name"] == entity for e in record.spec.get("entities", [])
            ):
                out.append(record.ref)
    return out


def _change_for(
    kind: ObjectKind,
    name: str,
    spec: Mapping[str, Any],
    latest: VersionRecord | None,
    classified: tuple[ChangeClass, list[Difference]] | None,
    new_state: VersionState,
) -> Change:
    if latest is None or latest.state is VersionState.RETIRED:
        version = 1 if latest is None else latest.version + 1
        notes = (
            ()
            if latest is None
            else (f"{name}@v{latest.version} is retired; starting a new version",)
        )
        cls = ChangeClass.NEW if latest is None else ChangeClass.BREAKING
        return Change(
            kind,
            name,
            cls,
            None if latest is None else latest.version,
            version,
            spec,
            state=new_state,
            notes=notes,
        )
    assert classified is not None
    change_class, diffs = classified
    if change_class is ChangeClass.BREAKING:
        return Change(
            kind,
            name,
            change_class,
            latest.version,
            latest.version + 1,
            spec,
            tuple(diffs),
            state=new_state,
        )
    return Change(kind, name, change_class, latest.version, latest.version, spec, tuple(diffs))


def _catalog_after(
    snapshot: RegistrySnapshot, view_changes: Sequence[Change]
) -> dict[str, list[tuple[int, VersionState, Mapping[str, Any]]]]:
    catalog: dict[str, list[tuple[int, VersionState, Mapping[str, Any]]]] = {}
    for name in snapshot.names(ObjectKind.FEATURE_VIEW):
        catalog[name] = [
            (r.version, r.state, r.spec) for r in snapshot.history_of(ObjectKind.FEATURE_VIEW, name)
        ]
    for change in view_changes:
        history = catalog.setdefault(change.name, [])
        if change.creates_version:
            assert change.to_version is not None and change.state is not None
            history.append((change.to_version, change.state, change.spec))
        elif change.updates_in_place:
            history[:] = [
                (v, s, change.spec if v == change.to_version else sp) for v, s, sp in history
            ]
    return catalog


def _service_notes(
    pins: Sequence[ServicePin],
    catalog: Mapping[str, Sequence[tuple[int, VersionState, Any]]],
    service: str,
) -> tuple[str, ...]:
    notes = []
    for view, version in sorted({(p.view, p.view_version) for p in pins}):
        newer = [
            (v, s)
            for v, s, _ in catalog.get(view, ())
            if v > version and s is not VersionState.RETIRED
        ]
        if newer:
            v, s = newer[-1]
            notes.append(
                f"stays pinned to {view}@v{version}; {view}@v{v} exists ({s.value}). "
                f"Run 'parity repin {service}' once it serves, or reference '{view}@v{v}'."
            )
    return tuple(notes)


def keep_storage_order(stored: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with its features in ``stored``'s order, features new to it appended.

    A view version's feature order is fixed when the version is created: online values
    are stored positionally, so an in-place update may only append.

    Example:
        >>> keep_storage_order({"features": [{"name": "a"}, {"name": "b"}]},
        ...                    {"features": [{"name": "c"}, {"name": "b"}, {"name": "a"}]})
        {'features': [{'name': 'a'}, {'name': 'b'}, {'name': 'c'}]}
    """
    position = {f["name"]: i for i, f in enumerate(stored["features"])}
    features = sorted(new["features"], key=lambda f: position.get(f["name"], len(position)))
    return {**new, "features": features}


def plan_apply(snapshot: RegistrySnapshot, repo: RepoContents) -> Plan:
    """Classify every object of ``repo`` against ``snapshot``; pure, writes nothing.

    Example:
        >>> plan_apply(empty_snapshot("demo"), RepoContents()).is_noop
        True
    """
    # New view versions always start pending: only a validated sync may make them serve.
    view_state = VersionState.PENDING
    changes: list[Change] = []
    for name, entity in sorted(repo.entities.items()):
        spec = entity.to_dict()
        latest = snapshot.latest(ObjectKind.ENTITY, name)
        classified = (
            None
            if latest is None
            else classify_entity(latest.spec, spec, _serving_dependents(snapshot, name))
        )
        changes.append(
            _change_for(ObjectKind.ENTITY, name, spec, latest, classified, VersionState.SERVING)
        )
    view_changes = []
    for name, view in sorted(repo.views.items()):
        spec = view.to_dict()
        latest = snapshot.latest(ObjectKind.FEATURE_VIEW, name)
        classified = None if latest is None else classify_view(latest.spec, spec)
        change = _change_for(ObjectKind.FEATURE_VIEW, name, spec, latest, classified, view_state)
        if change.updates_in_place and latest is not None:
            change = replace(change, spec=keep_storage_order(latest.spec, spec))
        view_changes.append(change)
    changes += view_changes
    catalog = _catalog_after(snapshot, view_changes)
    for name, service in sorted(repo.services.items()):
        spec = service.to_dict()
        latest = snapshot.latest(ObjectKind.FEATURE_SERVICE, name)
        classified = None if latest is None else classify_service(latest.spec, spec)
        change = _change_for(
            ObjectKind.FEATURE_SERVICE, name, spec, latest, classified, VersionState.SERVING
        )
        if change.creates_version:
            pins = resolve_pins(
                name, spec["features"], catalog, full_feature_names=spec["full_feature_names"]
            )
            check_transform_inputs(spec, [(p.view, p.feature, p.output_name) for p in pins])
        else:
            assert latest is not None
            pins = tuple(snapshot.pins.get((name, latest.version), ()))
        change = Change(
            change.kind,
            change.name,
            change.change_class,
            change.from_version,
            change.to_version,
            change.spec,
            change.differences,
            change.state,
            pins if change.creates_version else (),
            _service_notes(pins, catalog, name),
        )
        changes.append(change)
    in_repo = (
        {(ObjectKind.ENTITY, n) for n in repo.entities}
        | {(ObjectKind.FEATURE_VIEW, n) for n in repo.views}
        | {(ObjectKind.FEATURE_SERVICE, n) for n in repo.services}
    )
    missing = tuple(
        sorted(
            (
                key
                for key, history in snapshot.versions.items()
                if key not in in_repo and history and history[-1].state is not VersionState.RETIRED
            ),
            key=lambda k: (k[0].value, k[1]),
        )
    )
    return Plan(snapshot.project, snapshot.generation, tuple(changes), missing)


def plan_repin(snapshot: RegistrySnapshot, service: str) -> Plan:
    """A new version of ``service`` pinned to the newest serving view versions, if that differs."""
    latest = snapshot.latest(ObjectKind.FEATURE_SERVICE, service)
    if latest is None:
        raise FeatureServiceNotFound(
            f"Unknown feature service {service!r}."
            f"{did_you_mean(service, snapshot.names(ObjectKind.FEATURE_SERVICE))}"
        )
    catalog = _catalog_after(snapshot, ())
    pins = resolve_pins(
        service,
        latest.spec["features"],
        catalog,
        full_feature_names=latest.spec["full_feature_names"],
        serving_only=True,
    )
    current = tuple(snapshot.pins.get((service, latest.version), ()))
    if pins == current:
        change = Change(
            ObjectKind.FEATURE_SERVICE,
            service,
            ChangeClass.UNCHANGED,
            latest.version,
            latest.version,
            latest.spec,
            notes=("already pinned to the newest serving versions",),
        )
    else:
        diffs = tuple(
            Difference(f"pins.{view}", ChangeClass.BREAKING, old, new, "repinned")
            for view, old, new in _pin_moves(current, pins)
        )
        change = Change(
            ObjectKind.FEATURE_SERVICE,
            service,
            ChangeClass.BREAKING,
            latest.version,
            latest.version + 1,
            latest.spec,
            diffs,
            VersionState.SERVING,
            pins,
        )
    return Plan(snapshot.project, snapshot.generation, (change,))


def _pin_moves(
    old: Sequence[ServicePin], new: Sequence[ServicePin]
) -> list[tuple[str, int | None, int | None]]:
    before = {p.view: p.view_version for p in old}
    after = {p.view: p.view_version for p in new}
    return [
        (v, before.get(v), after.get(v))
        for v in sorted(before.keys() | after.keys())
        if before.get(v) != after.get(v)
    ]


def empty_snapshot(project: str) -> RegistrySnapshot:
    """A snapshot of a project with nothing registered."""
    return RegistrySnapshot(project, 0, {}, {})


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """Fingerprint stored beside each version's spec."""
    return fingerprint(spec)
