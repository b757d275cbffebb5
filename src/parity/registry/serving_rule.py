"""The serving rule: a feature service version serves only when every view version it
pins is serving.

This module is the one place the rule is written. Two sides apply it:

- reads: :func:`servable_service_version` picks the version a read goes through (the
  serving plan resolution in :mod:`parity.retrieval.resolve` calls it for every path:
  SDK, HTTP, client, predict, stream, push plans) and raises
  :class:`~parity.errors.ServiceNotServable` when nothing can answer;
- moves: :func:`refuse_breaking_move` is called by the registry inside the transaction
  of every lifecycle move (promote, deprecate, retire), and :func:`require_serving_pins`
  by ``repin``; a move that would leave a serving service version pointing at a view
  version that does not serve is refused, naming the service, the view version and the fix.

A service version's own state is the operator's intent:

- ``serving``: offered to consumers; a bare service name reads through its newest
  serving version whose pins all serve ("serve the old version until the new one is
  validated"), and an explicit ``name@vN`` reads through exactly that version;
- ``deprecated``: still answers explicit ``name@vN`` reads while its pins serve, never a
  bare name; consumers should move off it;
- ``pending`` and ``retired``: never answers.

A service version answers (is *servable*) when its state is serving or deprecated and
every view version it pins is ``serving``. A service version created by ``apply`` may
pin pending view versions (a new view has no validated version yet): it answers
nothing, with one clear error, until those versions are validated and promoted.

Example:
    >>> from parity.registry.records import RegistrySnapshot
    >>> blocking_pins(RegistrySnapshot("fraud", 0, {}, {}), "fraud_detection", 1)
    ()
"""

from __future__ import annotations

from collections.abc import Sequence

from parity.errors import FeatureServiceNotFound, InvalidTransition, ServiceNotServable
from parity.registry.records import ObjectKind, RegistrySnapshot, VersionRecord, VersionState

__all__ = [
    "ANSWERING_SERVICE_STATES",
    "blocking_pins",
    "refuse_breaking_move",
    "require_serving_pins",
    "servable_service_version",
]

ANSWERING_SERVICE_STATES = frozenset({VersionState.SERVING, VersionState.DEPRECATED})
"""The states of a service version that may answer reads (when its pins all serve)."""


def blocking_pins(snapshot: RegistrySnapshot, service: str, version: int) -> tuple[str, ...]:
    """The view versions pinned by ``service@v{version}`` that do not serve, as
    ``"view@vN (state)"``, in pin order; empty when every pin serves.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> blocking_pins(RegistrySnapshot("fraud", 0, {}, {}), "fraud_detection", 1)
        ()
    """
    seen: dict[tuple[str, int], str] = {}
    for pin in snapshot.pins.get((service, version), ()):
        key = (pin.view, pin.view_version)
        if key in seen:
            continue
        record = snapshot.get(ObjectKind.FEATURE_VIEW, pin.view, pin.view_version)
        if record is None or record.state is not VersionState.SERVING:
            state = "missing" if record is None else record.state.value
            seen[key] = f"{pin.view}@v{pin.view_version} ({state})"
    return tuple(seen.values())


def _fix_for(blocking: tuple[str, ...]) -> str:
    refs = [b.split(" ")[0] for b in blocking]
    if any("(pending)" in b for b in blocking):
        return (
            f"Validate and promote them ('parity materialize START END --view {refs[0]}', "
            f"then 'parity promote {refs[0]}')."
        )
    return "Repin the service onto serving view versions ('parity repin SERVICE')."


def servable_service_version(
    snapshot: RegistrySnapshot, name: str, version: int | None
) -> VersionRecord:
    """The service version a read of ``name`` (``version`` None: a bare name) goes through.

    A bare name reads through the newest serving version whose pins all serve. Raises
    :class:`~parity.errors.ServiceNotServable` (HTTP 503) when that version, or every
    serving one, cannot answer; the caller has already checked that ``name`` exists.

    Example:
        >>> servable_service_version(snapshot, "fraud_detection", None).ref  # doctest: +SKIP
        'fraud_detection@v2'
    """
    history = snapshot.history_of(ObjectKind.FEATURE_SERVICE, name)
    if version is not None:
        record = next((r for r in history if r.version == version), None)
        if record is None:
            return _missing(history, name, version)
        if record.state not in ANSWERING_SERVICE_STATES:
            raise ServiceNotServable(
                f"Feature service {record.ref} is {record.state.value} and serves no reads. "
                f"Read a serving version ({_states(history)}) or promote it "
                f"('parity promote {record.ref}')."
            )
        blocking = blocking_pins(snapshot, name, record.version)
        if blocking:
            raise ServiceNotServable(
                f"Feature service {record.ref} is not servable: it pins view versions that "
                f"do not serve: {', '.join(blocking)}. {_fix_for(blocking)}"
            )
        return record
    serving = [r for r in reversed(history) if r.state is VersionState.SERVING]
    for record in serving:
        if not blocking_pins(snapshot, name, record.version):
            return record
    if not serving:
        raise ServiceNotServable(
            f"Feature service {name!r} has no serving version ({_states(history)}). Promote "
            f"one ('parity promote {history[-1].ref}')."
        )
    newest = serving[0]
    blocking = blocking_pins(snapshot, name, newest.version)
    raise ServiceNotServable(
        f"Feature service {name!r} is not servable: its newest serving version "
        f"{newest.ref} pins view versions that do not serve: {', '.join(blocking)}. "
        f"{_fix_for(blocking)}"
    )


def _states(history: Sequence[VersionRecord]) -> str:
    return ", ".join(f"{r.ref} {r.state.value}" for r in history)


def _missing(history: Sequence[VersionRecord], name: str, version: int) -> VersionRecord:
    raise FeatureServiceNotFound(
        f"No version {version} of feature service {name!r}. Versions: {_states(history)}."
    )


def require_serving_pins(snapshot: RegistrySnapshot, service: str, version: int) -> None:
    """Refuse (:class:`~parity.errors.InvalidTransition`) making ``service@v{version}``
    serve while a view version it pins does not serve.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> require_serving_pins(RegistrySnapshot("fraud", 0, {}, {}), "fraud_detection", 1)
    """
    blocking = blocking_pins(snapshot, service, version)
    if blocking:
        raise InvalidTransition(
            f"Feature service {service}@v{version} cannot serve: it pins view versions that "
            f"do not serve: {', '.join(blocking)}. {_fix_for(blocking)}"
        )


def refuse_breaking_move(
    snapshot: RegistrySnapshot, record: VersionRecord, target: VersionState
) -> None:
    """Refuse a lifecycle move of ``record`` to ``target`` that would leave a serving
    service version pointing at a view version that does not serve.

    Promoting a service version needs every pin serving; a view version pinned by a
    serving service version cannot stop serving (deprecate or retire).

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> refuse_breaking_move(RegistrySnapshot("fraud", 0, {}, {}), record,
        ...                      VersionState.DEPRECATED)  # doctest: +SKIP
    """
    if record.kind is ObjectKind.FEATURE_SERVICE and target is VersionState.SERVING:
        require_serving_pins(snapshot, record.name, record.version)
        return
    if record.kind is not ObjectKind.FEATURE_VIEW or record.state is not VersionState.SERVING:
        return
    if target is VersionState.SERVING:
        return
    users = sorted(
        f"{service}@v{service_version}"
        for (service, service_version), pins in snapshot.pins.items()
        if any(p.view == record.name and p.view_version == record.version for p in pins)
        and _state(snapshot, service, service_version) is VersionState.SERVING
    )
    if users:
        first = users[0].split("@")[0]
        raise InvalidTransition(
            f"Cannot {_verb(target)} feature view {record.ref}: serving feature service "
            f"version(s) {', '.join(users)} pin it and would stop answering. Repin the "
            f"service onto another serving version ('parity repin {first}'), then deprecate "
            f"{', '.join(users)} ('parity deprecate {users[0]}'), then {_verb(target)} "
            f"{record.ref}."
        )


def _state(snapshot: RegistrySnapshot, service: str, version: int) -> VersionState | None:
    record = snapshot.get(ObjectKind.FEATURE_SERVICE, service, version)
    return None if record is None else record.state


def _verb(target: VersionState) -> str:
    return "deprecate" if target is VersionState.DEPRECATED else "retire"
