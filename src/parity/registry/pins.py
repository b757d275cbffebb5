"""Resolving a feature service's references to exact view versions (its pins).

A reference without a version pins the newest *serving* version of the view, or, when
none serves yet, the newest pending one: a service never moves onto an unvalidated
version while a validated one exists. A reference with ``@vN`` pins exactly that version.
``repin`` (``serving_only=True``) pins serving versions only: a service version it
creates answers at once (the serving rule, :mod:`parity.registry.serving_rule`).

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


def pick_version(
    view: str, catalog: ViewCatalog, *, service: str, serving_only: bool = False
) -> tuple[int, Mapping[str, Any]]:
    """The version an unversioned reference pins: newest serving, else (unless
    ``serving_only``) newest pending."""
    history = catalog.get(view)
    if not history:
        raise FeatureViewNotFound(
            f"FeatureService {service!r} references unknown feature view {view!r}."
            f"{did_you_mean(view, catalog)}"
        )
    for wanted in (VersionState.SERVING, VersionState.PENDING):
        for version, state, spec in reversed(history):
            if state is wanted:
                if serving_only and state is not VersionState.SERVING:
                    raise FeatureViewNotFound(
                        f"Cannot repin feature service {service!r}: feature view {view!r} has "
                        f"no serving version ({_states(view, history)}). Validate and promote "
                        f"{view}@v{version} first ('parity materialize START END --view "
                        f"{view}@v{version}', then 'parity promote {view}@v{version}')."
                    )
                return version, spec
    raise FeatureViewNotFound(
        f"FeatureService {service!r}: every version of feature view {view!r} is deprecated or "
        "retired; nothing can be pinned. Promote a version or reference it explicitly as "
        f"'{view}@vN'."
    )


def _states(view: str, history: Sequence[tuple[int, VersionState, Mapping[str, Any]]]) -> str:
    return ", ".join(f"{view}@v{n} {state.value}" for n, state, _ in history)


def _exact_version(
    view: str, version: int, catalog: ViewCatalog, *, service: str, serving_only: bool
) -> Mapping[str, Any]:
    for number, state, spec in catalog.get(view, ()):
        if number == version:
            if serving_only and state is not VersionState.SERVING:
                raise DefinitionError(
                    f"Cannot repin feature service {service!r}: it references {view}@v{version}, "
                    f"which is {state.value}; repin pins serving versions only. Promote "
                    f"{view}@v{version} ('parity promote {view}@v{version}') or reference a "
                    "serving version."
                )
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
    serving_only: bool = False,
) -> tuple[ServicePin, ...]:
    """Pins for a service's canonical selections (``{"view", "version", "features"}``);
    ``serving_only`` refuses any view version that does not serve (``repin``)."""
    pins: list[ServicePin] = []
    outputs: dict[str, str] = {}
    for selection in selections:
        view = selection["view"]
        if selection["version"] is None:
            version, spec = pick_version(view, catalog, service=service, serving_only=serving_only)
        else:
            version = selection["version"]
            spec = _exact_version(
                view, version, catalog, service=service, serving_only=serving_only
            )
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
