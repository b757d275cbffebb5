"""Which view versions a sync run covers.

Example:
    >>> from parity.registry.records import RegistrySnapshot
    >>> sync_targets(RegistrySnapshot("fraud", 0, {}, {}), None)
    []
"""

from __future__ import annotations

from collections.abc import Sequence

from parity.definitions import parse_versioned_name
from parity.registry import ObjectKind, RegistrySnapshot, VersionState
from parity.registry.references import not_found, resolve_reference

__all__ = ["LIVE_STATES", "sync_targets"]

# The states whose online values a sync keeps current (retired versions are gone).
LIVE_STATES = (VersionState.PENDING, VersionState.SERVING, VersionState.DEPRECATED)


def sync_targets(
    snapshot: RegistrySnapshot, views: Sequence[str] | None, /
) -> list[tuple[str, int]]:
    """``(view, version)`` pairs to sync: each ``name@vN`` given; every live version of each
    bare name given; or, with ``views=None``, every live version of every online view.

    Example:
        >>> from parity.registry.records import RegistrySnapshot
        >>> sync_targets(RegistrySnapshot("fraud", 0, {}, {}), ["user_stats"])
        Traceback (most recent call last):
        ...
        parity.errors.FeatureViewNotFound: Unknown feature view 'user_stats'.
    """
    targets: list[tuple[str, int]] = []
    names = snapshot.names(ObjectKind.FEATURE_VIEW) if views is None else list(views)
    for ref in names:
        name, version = parse_versioned_name(ref)
        if version is not None:
            record = resolve_reference(snapshot, ref, kind=ObjectKind.FEATURE_VIEW)
            targets.append((record.name, version))
            continue
        history = snapshot.history_of(ObjectKind.FEATURE_VIEW, name)
        if not history:
            raise not_found(snapshot, [ObjectKind.FEATURE_VIEW], name)
        targets.extend(
            (r.name, r.version)
            for r in history
            if r.state in LIVE_STATES and (views is not None or r.spec.get("online", True))
        )
    return targets
