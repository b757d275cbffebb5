"""The catalog: every entity, view, service and model, searchable; versions and diffs.

Everything here is a pure function of a :class:`~parity.registry.RegistrySnapshot` (and
the model names), returning JSON-ready dicts: the JSON API sends them as they are and
the pages render them.

Search terms are case-insensitive substrings; a term may name the field it matches
(``owner:fraud``, ``tag:pii``, ``feature:amount``, ``name:user``, ``kind:model``); a bare
term matches any of them. Every term must match (AND).

Example:
    >>> parse_query("owner:risk amount")
    [('owner', 'risk'), ('any', 'amount')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from parity.definitions import parse_versioned_name
from parity.errors import ObjectNotFound, did_you_mean
from parity.registry import ObjectKind, RegistrySnapshot, VersionRecord, VersionState
from parity.registry.classify import classify_entity, classify_service, classify_view

MODEL = "model"
FIELDS = ("name", "owner", "tag", "feature", "kind")
KINDS = (*(k.value for k in ObjectKind), MODEL)


def parse_query(text: str) -> list[tuple[str, str]]:
    """``[(field, needle)]`` of a search text (field ``any`` for bare terms).

    Example:
        >>> parse_query("tag:team=fraud NAME:User")
        [('tag', 'team=fraud'), ('name', 'user')]
    """
    terms = []
    for word in text.split():
        field, sep, needle = word.partition(":")
        if sep and field.lower() in FIELDS and needle:
            terms.append((field.lower(), needle.lower()))
        else:
            terms.append(("any", word.lower()))
    return terms


def _feature_names(record: VersionRecord, snapshot: RegistrySnapshot) -> list[str]:
    if record.kind is ObjectKind.FEATURE_VIEW:
        return [str(f["name"]) for f in record.spec.get("features", [])]
    if record.kind is ObjectKind.FEATURE_SERVICE:
        pins = snapshot.pins.get((record.name, record.version), ())
        return [pin.output_name for pin in pins]
    return [str(k["name"]) for k in record.spec.get("join_keys", []) if isinstance(k, Mapping)]


def _tags(spec: Mapping[str, Any]) -> list[str]:
    tags = spec.get("tags") or {}
    return [f"{k}={v}" if v not in ("", None) else str(k) for k, v in sorted(tags.items())]


def _state_counts(history: Sequence[VersionRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in history:
        counts[record.state.value] = counts.get(record.state.value, 0) + 1
    return counts


def catalog_entry(snapshot: RegistrySnapshot, kind: ObjectKind, name: str) -> dict[str, Any]:
    """One object's catalog row: newest version's metadata, features, version states."""
    history = snapshot.history_of(kind, name)
    latest = history[-1]
    return {
        "kind": kind.value,
        "name": name,
        "latest_version": latest.version,
        "latest_state": latest.state.value,
        "versions": len(history),
        "states": _state_counts(history),
        "owner": str(latest.spec.get("owner") or ""),
        "description": str(latest.spec.get("description") or ""),
        "tags": _tags(latest.spec),
        "features": _feature_names(latest, snapshot),
        "updated_at": max(r.updated_at for r in history).isoformat(),
    }


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "kind": MODEL,
        "name": name,
        "latest_version": None,
        "latest_state": None,
        "versions": None,
        "states": {},
        "owner": "",
        "description": "",
        "tags": [],
        "features": [],
        "updated_at": None,
    }


def _haystacks(entry: Mapping[str, Any]) -> dict[str, list[str]]:
    name = entry["name"].lower()
    fields = {
        "name": [name],
        "owner": [entry["owner"].lower()],
        "tag": [t.lower() for t in entry["tags"]],
        "feature": [f.lower() for f in entry["features"]],
        "kind": [entry["kind"].replace("_", " "), entry["kind"]],
    }
    fields["any"] = [text for values in fields.values() for text in values]
    return fields


def _matches(hay: Mapping[str, list[str]], terms: Sequence[tuple[str, str]]) -> list[str]:
    if not terms:
        return ["*"]
    matched: list[str] = []
    for field, needle in terms:
        fields = FIELDS if field == "any" else (field,)
        hit = [f for f in fields if any(needle in text for text in hay[f])]
        if not hit:
            return []
        matched.extend(f for f in hit if f not in matched)
    return matched


def matches(entry: Mapping[str, Any], terms: Iterable[tuple[str, str]]) -> list[str]:
    """The fields that matched every term (empty list: no match; ``["*"]``: no terms).

    Example:
        >>> entry = {"name": "user_stats", "owner": "risk", "tags": [], "features": ["amt"],
        ...          "kind": "feature_view"}
        >>> matches(entry, [("feature", "am")])
        ['feature']
    """
    return _matches(_haystacks(entry), list(terms))


CatalogIndex = list[tuple[dict[str, Any], dict[str, list[str]]]]


def catalog_index(snapshot: RegistrySnapshot) -> CatalogIndex:
    """Every registry object's catalog row with its lower-cased search fields, entities
    first, then views and services, each by name: built once per registry generation.

    Example:
        >>> len(catalog_index(store.snapshot()))  # doctest: +SKIP
        7
    """
    index = []
    for kind in ObjectKind:
        for name in snapshot.names(kind):
            entry = catalog_entry(snapshot, kind, name)
            index.append((entry, _haystacks(entry)))
    return index


def search_catalog(
    index: CatalogIndex,
    model_names: Sequence[str],
    *,
    query: str = "",
    kind: str | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """Catalog rows matching ``query`` (all when empty), entities first, then views,
    services and models, each sorted by name; at most ``limit`` rows, with the total.

    Example:
        >>> search_catalog([], ["fraud_model"], query="fraud")["total"]
        1
    """
    terms = parse_query(query)
    models = [(_model_entry(name), None) for name in model_names]
    rows: list[dict[str, Any]] = []
    total = 0
    for entry, hay in [*index, *models]:
        if kind and entry["kind"] != kind:
            continue
        found = _matches(hay if hay is not None else _haystacks(entry), terms)
        if found:
            total += 1
            if len(rows) < limit:
                rows.append({**entry, "matched": found})
    return {"query": query, "kind": kind or None, "total": total, "results": rows}


def resolve_version(snapshot: RegistrySnapshot, ref: str, kind: ObjectKind) -> VersionRecord:
    """``name@vN``, or ``name`` for its newest serving version (else its newest), as
    ``FeatureStore.get_version`` resolves it, on a snapshot the caller already holds.

    Example:
        >>> resolve_version(snap, "user_stats@v2", ObjectKind.FEATURE_VIEW).ref  # doctest: +SKIP
        'user_stats@v2'
    """
    name, version = parse_versioned_name(ref)
    history = _history(snapshot, kind, name)
    if version is None:
        serving = [r for r in history if r.state is VersionState.SERVING]
        return serving[-1] if serving else history[-1]
    for record in history:
        if record.version == version:
            return record
    known = ", ".join(r.ref for r in history)
    raise ObjectNotFound(f"No {kind.label} {name}@v{version}. Known versions: {known}.")


def parse_kind(text: str) -> ObjectKind:
    """The registry kind spelled ``text`` (``feature_view``), with a "did you mean".

    Example:
        >>> parse_kind("feature_view").label
        'feature view'
    """
    try:
        return ObjectKind(text)
    except ValueError:
        known = [k.value for k in ObjectKind]
        raise ObjectNotFound(
            f"Unknown kind {text!r}.{did_you_mean(text, known)} Kinds: {', '.join(known)}."
        ) from None


def _history(snapshot: RegistrySnapshot, kind: ObjectKind, name: str) -> Sequence[VersionRecord]:
    history = snapshot.history_of(kind, name)
    if not history:
        known = snapshot.names(kind)
        raise ObjectNotFound(f"Unknown {kind.label} {name!r}.{did_you_mean(name, known)}")
    return history


def version_dict(record: VersionRecord, snapshot: RegistrySnapshot) -> dict[str, Any]:
    """One version: state, fingerprint, times, definition and (services) its pins."""
    out: dict[str, Any] = {
        "ref": record.ref,
        "version": record.version,
        "state": record.state.value,
        "fingerprint": record.fingerprint,
        "revision": record.revision,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "spec": dict(record.spec),
    }
    if record.kind is ObjectKind.FEATURE_SERVICE:
        out["pins"] = [
            {
                "position": p.position,
                "view": f"{p.view}@v{p.view_version}",
                "feature": p.feature,
                "output_name": p.output_name,
            }
            for p in snapshot.pins.get((record.name, record.version), ())
        ]
    return out


def object_versions(snapshot: RegistrySnapshot, kind: ObjectKind, name: str) -> dict[str, Any]:
    """Every version of one object, newest first, with its catalog row."""
    history = _history(snapshot, kind, name)
    return {
        **catalog_entry(snapshot, kind, name),
        "history": [version_dict(r, snapshot) for r in reversed(history)],
    }


def _dependents(snapshot: RegistrySnapshot, entity: str) -> list[str]:
    out = []
    for name in snapshot.names(ObjectKind.FEATURE_VIEW):
        for record in snapshot.history_of(ObjectKind.FEATURE_VIEW, name):
            names = [e.get("name") for e in record.spec.get("entities", [])]
            if entity in names and record.state is VersionState.SERVING:
                out.append(record.ref)
    return out


def version_diff(
    snapshot: RegistrySnapshot, kind: ObjectKind, name: str, old: int, new: int
) -> dict[str, Any]:
    """The differences from ``old`` to ``new``, classified as ``parity plan`` classifies
    them (metadata, compatible, breaking, refused), the worst one first in ``change_class``.

    Example:
        >>> diff = version_diff(snap, ObjectKind.FEATURE_VIEW, "stats", 1, 2)  # doctest: +SKIP
        >>> diff["change_class"]  # doctest: +SKIP
        'breaking'
    """
    history = {r.version: r for r in _history(snapshot, kind, name)}
    for v in (old, new):
        if v not in history:
            known = ", ".join(f"v{x}" for x in sorted(history))
            raise ObjectNotFound(f"No version v{v} of {kind.label} {name!r}. Known: {known}.")
    a, b = history[old].spec, history[new].spec
    if kind is ObjectKind.FEATURE_VIEW:
        change_class, differences = classify_view(a, b)
    elif kind is ObjectKind.FEATURE_SERVICE:
        change_class, differences = classify_service(a, b)
    else:
        change_class, differences = classify_entity(a, b, _dependents(snapshot, name))
    return {
        "kind": kind.value,
        "name": name,
        "old": history[old].ref,
        "new": history[new].ref,
        "change_class": change_class.value,
        "differences": [d.to_dict() for d in differences],
    }
