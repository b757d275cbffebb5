"""The read-only registry endpoints' JSON: views, services, versions, pins.

Example:
    >>> [v["name"] for v in list_views(store.snapshot())]  # doctest: +SKIP
    ['merchant_risk', 'user_profile']
"""

from __future__ import annotations

from typing import Any

from parity.errors import FeatureViewNotFound, did_you_mean
from parity.registry import ObjectKind, RegistrySnapshot, VersionRecord


def _version(record: VersionRecord, *, spec: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": record.ref,
        "version": record.version,
        "state": record.state.value,
        "fingerprint": record.fingerprint,
        "revision": record.revision,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    if spec:
        out["spec"] = record.spec
    return out


def list_views(snapshot: RegistrySnapshot) -> list[dict[str, Any]]:
    """Every feature view with its versions and states (no specs)."""
    return [
        {
            "name": name,
            "versions": [
                _version(r, spec=False) for r in snapshot.history_of(ObjectKind.FEATURE_VIEW, name)
            ],
        }
        for name in snapshot.names(ObjectKind.FEATURE_VIEW)
    ]


def describe_view(snapshot: RegistrySnapshot, name: str) -> dict[str, Any]:
    """One view: every version with its definition."""
    history = snapshot.history_of(ObjectKind.FEATURE_VIEW, name)
    if not history:
        known = snapshot.names(ObjectKind.FEATURE_VIEW)
        raise FeatureViewNotFound(f"Unknown feature view {name!r}.{did_you_mean(name, known)}")
    return {"name": name, "versions": [_version(r, spec=True) for r in history]}


def list_services(snapshot: RegistrySnapshot) -> list[dict[str, Any]]:
    """Every feature service with its versions, states and pinned features in order."""
    out = []
    for name in snapshot.names(ObjectKind.FEATURE_SERVICE):
        versions = []
        for record in snapshot.history_of(ObjectKind.FEATURE_SERVICE, name):
            item = _version(record, spec=False)
            item["features"] = [
                {
                    "position": pin.position,
                    "view": f"{pin.view}@v{pin.view_version}",
                    "feature": pin.feature,
                    "output_name": pin.output_name,
                }
                for pin in snapshot.pins.get((name, record.version), ())
            ]
            versions.append(item)
        out.append({"name": name, "versions": versions})
    return out
