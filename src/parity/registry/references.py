"""Resolving what a user types (``user_stats``, ``user_stats@v2``) to registry records.

Every function reads one :class:`~parity.registry.records.RegistrySnapshot`, so a lookup
is consistent even while another process applies. A bare name means the newest serving
version, or the newest version if none serves; an unknown name is an
:class:`~parity.errors.ObjectNotFound` subclass with a "did you mean".

Example:
    >>> from parity.registry.records import RegistrySnapshot
    >>> empty = RegistrySnapshot("fraud", 0, {}, {})
    >>> resolve_reference(empty, "user_stats", kind=ObjectKind.FEATURE_VIEW)
    Traceback (most recent call last):
    ...
    parity.errors.FeatureViewNotFound: Unknown feature view 'user_stats'.
"""

from __future__ import annotations

from collections.abc import Sequence

from parity.definitions import parse_versioned_name
from parity.errors import (
    EntityNotFound,
    FeatureServiceNotFound,
    FeatureViewNotFound,
    ObjectNotFound,
    did_you_mean,
)
from parity.registry.records import (
    ObjectKind,
    RegistrySnapshot,
    ServicePin,
    VersionRecord,
    VersionState,
)

__all__ = [
    "latest_records",
    "not_found",
    "resolve_reference",
    "service_pins",
    "versions_of",
]

_NOT_FOUND: dict[ObjectKind, type[ObjectNotFound]] = {
    ObjectKind.ENTITY: EntityNotFound,
    ObjectKind.FEATURE_VIEW: FeatureViewNotFound,
    ObjectKind.FEATURE_SERVICE: FeatureServiceNotFound,
}


def _kinds(kind: ObjectKind | None) -> list[ObjectKind]:
    return [kind] if kind else list(ObjectKind)


def not_found(snapshot: RegistrySnapshot, kinds: Sequence[ObjectKind], name: str) -> ObjectNotFound:
    """The error for an unknown ``name`` among ``kinds``, with the closest known name.

    One kind gives its precise error (:class:`~parity.errors.FeatureViewNotFound`, a
    ``KeyError`` too); several give :class:`~parity.errors.ObjectNotFound`.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> print(not_found(RegistrySnapshot("p", 0, {}, {}), list(ObjectKind), "x"))
        Unknown object 'x'.
    """
    known = [n for k in kinds for n in snapshot.names(k)]
    label = kinds[0].label if len(kinds) == 1 else "object"
    error = _NOT_FOUND[kinds[0]] if len(kinds) == 1 else ObjectNotFound
    return error(f"Unknown {label} {name!r}.{did_you_mean(name, known)}")


def latest_records(snapshot: RegistrySnapshot, kind: ObjectKind, /) -> list[VersionRecord]:
    """The newest version of every object of ``kind``, by name.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> latest_records(RegistrySnapshot("p", 0, {}, {}), ObjectKind.ENTITY)
        []
    """
    return [snapshot.history_of(kind, name)[-1] for name in snapshot.names(kind)]


def versions_of(
    snapshot: RegistrySnapshot, name: str, /, *, kind: ObjectKind | None = None
) -> list[VersionRecord]:
    """Every version of the object called ``name`` (of ``kind``, or the first kind that has
    it), oldest first.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> versions_of(RegistrySnapshot("p", 0, {}, {}), "fraud")
        Traceback (most recent call last):
        ...
        parity.errors.ObjectNotFound: Unknown object 'fraud'.
    """
    kinds = _kinds(kind)
    for k in kinds:
        history = snapshot.history_of(k, name)
        if history:
            return list(history)
    raise not_found(snapshot, kinds, name)


def resolve_reference(
    snapshot: RegistrySnapshot, ref: str, /, *, kind: ObjectKind | None = None
) -> VersionRecord:
    """The record ``name`` or ``name@vN`` means.

    A bare name means the newest serving version, or the newest version if none serves; a
    missing version lists the known ones.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> resolve_reference(RegistrySnapshot("p", 0, {}, {}), "fraud@v2",
        ...                   kind=ObjectKind.FEATURE_SERVICE)
        Traceback (most recent call last):
        ...
        parity.errors.FeatureServiceNotFound: Unknown feature service 'fraud'.
    """
    name, version = parse_versioned_name(ref)
    kinds = _kinds(kind)
    for k in kinds:
        history = snapshot.history_of(k, name)
        if not history:
            continue
        if version is None:
            serving = [r for r in history if r.state is VersionState.SERVING]
            return serving[-1] if serving else history[-1]
        for record in history:
            if record.version == version:
                return record
        known = ", ".join(r.ref for r in history)
        raise _NOT_FOUND[k](f"No {k.label} {name}@v{version}. Known versions: {known}.")
    raise not_found(snapshot, kinds, name)


def service_pins(snapshot: RegistrySnapshot, ref: str, /) -> tuple[ServicePin, ...]:
    """The exact view versions, in canonical feature order, of a service version.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> service_pins(RegistrySnapshot("p", 0, {}, {}), "fraud")
        Traceback (most recent call last):
        ...
        parity.errors.FeatureServiceNotFound: Unknown feature service 'fraud'.
    """
    record = resolve_reference(snapshot, ref, kind=ObjectKind.FEATURE_SERVICE)
    return tuple(snapshot.pins.get((record.name, record.version), ()))
