"""Resolving a feature service's references to exact view versions (its pins).

A reference without a version pins the newest *serving* version of the view, or, when
none serves yet, the newest pending one: a service never moves onto an unvalidated
version while a validated one exists. A reference with ``@vN`` pins exactly that version.

Example:
    >>> catalog = {"stats": [(1, VersionState.SERVING, {"features": [{"name": "a"}]})]}
    >>> [p.output_name for p in resolve_pins("svc", [{"view": "stats", "version": None,
    ...     "features": None}], catalog, full_feature_names=False)]
    ['a']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parity.errors import DefinitionError, FeatureViewNotFound, did_you_mean
from parity.registry.records import ServicePin, VersionState

# view name -> [(version, state, spec)] in ascending version order
ViewCatalog = Mapping[str, Sequence[tuple[int, VersionState, Mapping[str, Any]]]]


def pick_version(view: str, catalog: ViewCatalog, *, service: str) -> tuple[int, Mapping[str, Any]]:
    """The version an unversioned reference pins: newest serving, else newest pending."""
    history = catalog.get(view)
    if not history:
        raise FeatureViewNotFound(
            f"FeatureService {service!r} references unknown feature view {view!r}."
            f"{did_you_mean(view, catalog)}"
        )
    for wanted in (VersionState.SERVING, VersionState.PENDING):
        for version, state, spec in reversed(history):
            if state is wanted:
                return version, spec
    raise FeatureViewNotFound(
        f"FeatureService {service!r}: every version of feature view {view!r} is deprecated or "
        "retired; nothing can be pinned. Promote a version or reference it explicitly as "
        f"'{view}@vN'."
    )


def _exact_version(
    view: str, version: int, catalog: ViewCatalog, *, service: str
) -> Mapping[str, Any]:
    for number, state, spec in catalog.get(view, ()):
        if number == version:
            if state is VersionState.RETIRED:
                raise DefinitionError(
                    f"FeatureService {service!r} pins {view}@v{version}, which is retired. "
                    "Reference a live version."
                )
            return spec
    known = ", ".join(f"{view}@v{n}" for n, _, _ in catalog.get(view, ())) or "none"
    raise FeatureViewNotFound(
        f"FeatureService {service!r} references {view}@v{version}, which does not exist. "
        f"Known versions: {known}."
    )


def resolve_pins(
    service: str,
    selections: Sequence[Mapping[str, Any]],
    catalog: ViewCatalog,
    *,
    full_feature_names: bool,
) -> tuple[ServicePin, ...]:
    """Pins for a service's canonical selections (``{"view", "version", "features"}``)."""
    pins: list[ServicePin] = []
    outputs: dict[str, str] = {}
    for selection in selections:
        view = selection["view"]
        if selection["version"] is None:
            version, spec = pick_version(view, catalog, service=service)
        else:
            version = selection["version"]
            spec = _exact_version(view, version, catalog, service=service)
        available = [f["name"] for f in spec["features"]]
        names = selection["features"] or available
        for name in names:
            if name not in available:
                raise DefinitionError(
                    f"FeatureService {service!r}: {view}@v{version} has no feature {name!r}."
                    f"{did_you_mean(name, available)}"
                )
            output = f"{view}__{name}" if full_feature_names else name
            if output in outputs:
                raise DefinitionError(
                    f"FeatureService {service!r}: output column {output!r} comes from both "
                    f"{outputs[output]!r} and {view!r}. Set full_feature_names=True or select "
                    "one of them."
                )
            outputs[output] = view
            pins.append(ServicePin(len(pins), view, version, name, output))
    return tuple(pins)
