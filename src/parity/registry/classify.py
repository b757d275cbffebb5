"""Change classification: what an apply would do, computed without touching storage.

Each object in the repository is compared with its latest registered version and every
difference gets a class, exactly as DESIGN.md's version table says:

====================  =============================================================
metadata              description, owner, tags: same version, updated in place
compatible            nullable feature added, contract, freshness, online flag:
                      same version, updated in place
breaking              dtype, removed feature, non-nullable feature added, entity key,
                      source, ttl, anything not listed here: new version ``name@vN+1``
refused               the join keys of an entity that serving view versions depend on
====================  =============================================================

The order of features inside a view carries no meaning: a version stores its features
in the order they had when it was created, with nullable features appended (online
values are positional). Services fix their column order themselves.

Unknown keys in a canonical form are breaking by default, so a definition attribute
added later can never slip through as "metadata".

Example:
    >>> old, new = {"ttl_seconds": 60.0}, {"ttl_seconds": 120.0}
    >>> classify_view(old, new)[0]
    <ChangeClass.BREAKING: 'breaking'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_METADATA_KEYS = frozenset({"description", "owner", "tags"})


class ChangeClass(enum.StrEnum):
    """How a repository definition relates to its registered version."""

    # Identical canonical form: nothing is written.
    UNCHANGED = "unchanged"
    # Description, owner or tags only: same version, updated in place.
    METADATA = "metadata"
    # Values unaffected (nullable feature added, contract, freshness): same version.
    COMPATIBLE = "compatible"
    # Values or keys change: a new version beside the old one.
    BREAKING = "breaking"
    # Not allowed in place; the apply is rejected as a whole.
    REFUSED = "refused"
    # Not registered yet: version 1.
    NEW = "new"

    @property
    def severity(self) -> int:
        """Order used to combine differences (the worst one decides)."""
        return _SEVERITY[self]


_SEVERITY = {
    ChangeClass.UNCHANGED: 0,
    ChangeClass.METADATA: 1,
    ChangeClass.COMPATIBLE: 2,
    ChangeClass.NEW: 3,
    ChangeClass.BREAKING: 3,
    ChangeClass.REFUSED: 4,
}


@dataclass(frozen=True)
class Difference:
    """One difference between the registered and the repository definition."""

    path: str
    change_class: ChangeClass
    old: Any
    new: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "class": self.change_class.value,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
        }


# --- classification of one object ------------------------------------------------------


def _metadata_differences(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
) -> list[Difference]:
    return [
        Difference(f"{prefix}{key}", ChangeClass.METADATA, old.get(key), new.get(key), "metadata")
        for key in sorted(_METADATA_KEYS)
        if old.get(key) != new.get(key)
    ]


def _worst(differences: Iterable[Difference]) -> ChangeClass:
    worst = ChangeClass.UNCHANGED
    for diff in differences:
        if diff.change_class.severity > worst.severity:
            worst = diff.change_class
    return worst


def _without(data: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in set(keys)}


def _source_semantics(source: Mapping[str, Any] | None) -> Any:
    if not isinstance(source, Mapping):
        return source
    out = _without(source, ("description",))
    if "batch_source" in out:
        out["batch_source"] = _source_semantics(out["batch_source"])
    return out


def _feature_differences(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[Difference]:
    diffs: list[Difference] = []
    old_by = {f["name"]: f for f in old}
    new_by = {f["name"]: f for f in new}
    for name in old_by.keys() - new_by.keys():
        diffs.append(
            Difference(
                f"features.{name}",
                ChangeClass.BREAKING,
                old_by[name]["dtype"],
                None,
                "feature removed: consumers may read it",
            )
        )
    for name in sorted(new_by.keys() - old_by.keys()):
        f = new_by[name]
        if f["nullable"]:
            diffs.append(
                Difference(
                    f"features.{name}",
                    ChangeClass.COMPATIBLE,
                    None,
                    f["dtype"],
                    "nullable feature added: existing rows read as null",
                )
            )
        else:
            diffs.append(
                Difference(
                    f"features.{name}",
                    ChangeClass.BREAKING,
                    None,
                    f["dtype"],
                    "non-nullable feature added: existing rows have no value",
                )
            )
    for name in sorted(old_by.keys() & new_by.keys()):
        a, b = old_by[name], new_by[name]
        path = f"features.{name}"
        if a["dtype"] != b["dtype"]:
            diffs.append(
                Difference(
                    f"{path}.dtype", ChangeClass.BREAKING, a["dtype"], b["dtype"], "dtype changed"
                )
            )
        for key in ("nullable", "contract"):
            if a.get(key) != b.get(key):
                diffs.append(
                    Difference(
                        f"{path}.{key}",
                        ChangeClass.COMPATIBLE,
                        a.get(key),
                        b.get(key),
                        "data contract changed: applies from the next sync",
                    )
                )
        diffs.extend(_metadata_differences(a, b, prefix=f"{path}."))
        rest = _without(a, ("name", "dtype", "nullable", "contract", *_METADATA_KEYS)) != _without(
            b, ("name", "dtype", "nullable", "contract", *_METADATA_KEYS)
        )
        if rest:
            diffs.append(Difference(path, ChangeClass.BREAKING, a, b, "feature definition changed"))
    return diffs


# Keys of a view's canonical form and how a change to each is classified. Anything not
# listed is breaking.
_VIEW_RULES: Mapping[str, tuple[ChangeClass, str]] = {
    "entities": (ChangeClass.BREAKING, "entity key changed"),
    "ttl_seconds": (ChangeClass.BREAKING, "ttl changed: point-in-time values change"),
    "freshness": (ChangeClass.COMPATIBLE, "freshness policy changed"),
    "online": (ChangeClass.COMPATIBLE, "online serving switched"),
}


def classify_view(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[ChangeClass, list[Difference]]:
    """Classify the change from one view spec to another.

    Example:
        >>> classify_view({"features": [], "owner": "a"}, {"features": [], "owner": "b"})[0]
        <ChangeClass.METADATA: 'metadata'>
    """
    diffs = _metadata_differences(old, new)
    diffs += _feature_differences(old.get("features", []), new.get("features", []))
    if _source_semantics(old.get("source")) != _source_semantics(new.get("source")):
        diffs.append(
            Difference(
                "source",
                ChangeClass.BREAKING,
                old.get("source"),
                new.get("source"),
                "source changed: values come from elsewhere",
            )
        )
    elif old.get("source") != new.get("source"):
        diffs.append(Difference("source.description", ChangeClass.METADATA, None, None, "metadata"))
    handled = {"kind", "name", "features", "source", *_METADATA_KEYS}
    for key in sorted((old.keys() | new.keys()) - handled):
        if old.get(key) != new.get(key):
            change_class, reason = _VIEW_RULES.get(key, (ChangeClass.BREAKING, f"{key} changed"))
            diffs.append(Difference(key, change_class, old.get(key), new.get(key), reason))
    return _worst(diffs), diffs


def classify_entity(
    old: Mapping[str, Any], new: Mapping[str, Any], serving_dependents: Sequence[str]
) -> tuple[ChangeClass, list[Difference]]:
    """Classify an entity change; changing the keys under serving views is refused.

    Example:
        >>> classify_entity({"join_keys": [1]}, {"join_keys": [2]}, ["v@v1"])[0]
        <ChangeClass.REFUSED: 'refused'>
    """
    diffs = _metadata_differences(old, new)
    if old.get("join_keys") != new.get("join_keys"):
        if serving_dependents:
            diffs.append(
                Difference(
                    "join_keys",
                    ChangeClass.REFUSED,
                    old.get("join_keys"),
                    new.get("join_keys"),
                    "serving view versions depend on these keys "
                    f"({', '.join(serving_dependents)}); "
                    "define a new entity under a new name and point the views at it: they get new "
                    "versions and the serving ones keep serving until review",
                )
            )
        else:
            diffs.append(
                Difference(
                    "join_keys",
                    ChangeClass.BREAKING,
                    old.get("join_keys"),
                    new.get("join_keys"),
                    "entity key changed",
                )
            )
    return _worst(diffs), diffs


def _without_descriptions(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = {k: v for k, v in item.items() if k not in _METADATA_KEYS}
            if isinstance(item.get("outputs"), list):
                item["outputs"] = _without_descriptions(item["outputs"])
        out.append(item)
    return out


def _transform_differences(old: Any, new: Any) -> list[Difference]:
    """Row transforms: a changed description is metadata; anything else changes values."""
    if old == new:
        return []
    if _without_descriptions(old) == _without_descriptions(new):
        return [Difference("transforms", ChangeClass.METADATA, old, new, "metadata")]
    before = {t["name"]: t for t in old or []}
    after = {t["name"]: t for t in new or []}
    diffs = [
        Difference(
            f"transforms.{name}.function_sha256",
            ChangeClass.BREAKING,
            before[name]["function_sha256"],
            after[name]["function_sha256"],
            "function code changed: its outputs change, consumers get a new service version",
        )
        for name in sorted(before.keys() & after.keys())
        if before[name]["function_sha256"] != after[name]["function_sha256"]
    ]
    if not diffs or _without_sha(old) != _without_sha(new):
        diffs.append(
            Difference(
                "transforms",
                ChangeClass.BREAKING,
                old,
                new,
                "row transforms changed (inputs, outputs or list): consumers get a new "
                "service version",
            )
        )
    return diffs


def _without_sha(items: Any) -> Any:
    return [
        {k: v for k, v in t.items() if k != "function_sha256"}
        for t in _without_descriptions(items) or []
    ]


def classify_service(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[ChangeClass, list[Difference]]:
    """Classify a service change: any change to its feature list is a new service version.

    Row transforms: a changed function (its code fingerprint), input or output is
    breaking (the values change); a changed description is metadata. Request fields: a
    changed name, dtype or nullability is breaking, a description metadata.

    Example:
        >>> classify_service({"features": [1]}, {"features": [1, 2]})[0]
        <ChangeClass.BREAKING: 'breaking'>
    """
    diffs = _metadata_differences(old, new)
    diffs += _transform_differences(old.get("transforms"), new.get("transforms"))
    old_request, new_request = old.get("request_schema"), new.get("request_schema")
    if old_request != new_request:
        same = _without_descriptions(old_request) == _without_descriptions(new_request)
        diffs.append(
            Difference(
                "request_schema",
                ChangeClass.METADATA if same else ChangeClass.BREAKING,
                old_request,
                new_request,
                "metadata" if same else "request fields changed: callers send other values",
            )
        )
    handled = {"kind", "name", "transforms", "request_schema", *_METADATA_KEYS}
    for key in sorted((old.keys() | new.keys()) - handled):
        if old.get(key) != new.get(key):
            diffs.append(
                Difference(
                    key,
                    ChangeClass.BREAKING,
                    old.get(key),
                    new.get(key),
                    f"{key} changed: consumers get a new service version",
                )
            )
    return _worst(diffs), diffs
