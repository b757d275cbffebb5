"""Resolving what a caller asks for into exact view versions and a canonical column order.

A :class:`ServingPlan` is computed once per (request shape, registry generation) and
reused: the hot path never parses references or reads the registry.

Example:
    >>> plan = resolve_serving_plan(snapshot, feature_service="fraud")  # doctest: +SKIP
    >>> plan.output_names  # doctest: +SKIP
    ('amount_mean_7d', 'country', 'risk_score')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from operator import itemgetter
from typing import Any

from parity.definitions import FeatureView, parse_feature_ref, parse_versioned_name
from parity.errors import (
    DefinitionError,
    FeatureServiceNotFound,
    FeatureViewNotFound,
    did_you_mean,
)
from parity.online.base import ViewTable
from parity.registry import ObjectKind, RegistrySnapshot, ServicePin, VersionRecord, VersionState
from parity.registry.serving_rule import servable_service_version
from parity.retrieval.transforms import TransformFunctions, TransformPlan, bind_transforms
from parity.types import DType


@dataclass(frozen=True)
class ViewRead:
    """One view version to read: its online table and where its features go.

    ``positions[i]`` is the index in the table's feature tuple of output column
    ``outputs[i]`` (an index into the plan's output columns).

    The remaining attributes are derived once, for the read hot path: ``key_names`` (the
    table's join key names), ``span`` (the first output column when ``outputs`` are
    consecutive, so a row's values land with one slice assignment; else -1), ``select``
    (the selected values of a stored row, as a tuple) and ``needed`` (the stored length
    ``select`` requires).
    """

    table: ViewTable
    ttl: timedelta | None
    positions: tuple[int, ...]
    outputs: tuple[int, ...]
    key_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    span: int = field(init=False, repr=False, compare=False)
    select: Callable[[tuple[Any, ...]], tuple[Any, ...]] = field(
        init=False, repr=False, compare=False
    )
    needed: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        count = len(self.outputs)
        first = self.outputs[0] if count else -1
        consecutive = count > 0 and self.outputs == tuple(range(first, first + count))
        positions = self.positions
        if positions == tuple(range(len(positions))):
            select: Callable[[tuple[Any, ...]], tuple[Any, ...]] = itemgetter(slice(0, count))
        elif len(positions) == 1:
            (only,) = positions
            select = lambda stored: (stored[only],)  # noqa: E731 - a closure over one index
        else:
            select = itemgetter(*positions)
        object.__setattr__(self, "key_names", self.table.join_key_names)
        object.__setattr__(self, "span", first if consecutive else -1)
        object.__setattr__(self, "select", select)
        object.__setattr__(self, "needed", max(positions, default=-1) + 1)


@dataclass(frozen=True)
class ServingPlan:
    """Everything needed to answer a request, resolved once.

    ``join_keys`` is the union of the views' join keys, in first-seen order. A service
    with row transforms has ``transforms``; their outputs end ``output_names``, after
    the view features.
    """

    output_names: tuple[str, ...]
    output_dtypes: tuple[DType, ...]
    reads: tuple[ViewRead, ...]
    join_keys: tuple[str, ...]
    service: str | None
    service_version: int | None
    transforms: TransformPlan | None = None

    @property
    def request_fields(self) -> tuple[str, ...]:
        """The request fields callers send with each entity row (for the transforms)."""
        return (
            () if self.transforms is None else tuple(f.name for f in self.transforms.request_fields)
        )


def _live_view(snapshot: RegistrySnapshot, name: str, version: int | None) -> VersionRecord:
    history = snapshot.history_of(ObjectKind.FEATURE_VIEW, name)
    if not history:
        raise FeatureViewNotFound(
            f"Unknown feature view {name!r}."
            f"{did_you_mean(name, snapshot.names(ObjectKind.FEATURE_VIEW))}"
        )
    if version is not None:
        record = snapshot.get(ObjectKind.FEATURE_VIEW, name, version)
        if record is None:
            known = ", ".join(r.ref for r in history)
            raise FeatureViewNotFound(f"No feature view {name}@v{version}. Known: {known}.")
    else:
        serving = [r for r in history if r.state is VersionState.SERVING]
        if not serving:
            states = ", ".join(f"{r.ref} {r.state.value}" for r in history)
            raise FeatureViewNotFound(
                f"Feature view {name!r} has no serving version ({states}). Promote one "
                f"('parity promote {history[-1].ref}') or ask for a version explicitly."
            )
        record = serving[-1]
    if record.state is VersionState.RETIRED:
        raise FeatureViewNotFound(f"Feature view {record.ref} is retired and cannot be read.")
    return record


def _plan_from_pins(
    snapshot: RegistrySnapshot,
    pins: Sequence[ServicePin],
    *,
    service: str | None,
    service_version: int | None,
    service_spec: Mapping[str, Any] | None = None,
    functions: TransformFunctions | None = None,
) -> ServingPlan:
    groups: dict[tuple[str, int], list[ServicePin]] = {}
    for pin in pins:
        groups.setdefault((pin.view, pin.view_version), []).append(pin)
    reads = []
    join_keys: list[str] = []
    dtypes: dict[int, DType] = {}
    for (view_name, version), view_pins in groups.items():
        record = snapshot.get(ObjectKind.FEATURE_VIEW, view_name, version)
        if record is None or record.state is VersionState.RETIRED:
            raise FeatureViewNotFound(
                f"{view_name}@v{version} (pinned by {service}@v{service_version}) is not "
                "readable: it is retired or missing. Repin the service."
            )
        view = FeatureView.from_dict(record.spec)
        table = ViewTable.from_view(view, project=snapshot.project, version=version)
        names = table.feature_names
        reads.append(
            ViewRead(
                table=table,
                ttl=view.ttl,
                positions=tuple(names.index(p.feature) for p in view_pins),
                outputs=tuple(p.position for p in view_pins),
            )
        )
        join_keys.extend(k for k in table.join_key_names if k not in join_keys)
        for pin in view_pins:
            dtypes[pin.position] = view.field(pin.feature).dtype
    ordered = sorted(pins, key=lambda p: p.position)
    transforms = None
    if service_spec is not None:
        transforms = bind_transforms(
            f"{service}@v{service_version}",
            service_spec,
            [(p.view, p.feature, p.output_name, dtypes[p.position]) for p in ordered],
            functions,
        )
    extra = () if transforms is None else transforms.output_fields
    return ServingPlan(
        output_names=tuple(p.output_name for p in ordered) + tuple(f.name for f in extra),
        output_dtypes=tuple(dtypes[p.position] for p in ordered) + tuple(f.dtype for f in extra),
        reads=tuple(reads),
        join_keys=tuple(join_keys),
        service=service,
        service_version=service_version,
        transforms=transforms,
    )


def resolve_serving_plan(
    snapshot: RegistrySnapshot,
    *,
    feature_service: str | None = None,
    features: Sequence[str] | None = None,
    full_feature_names: bool = False,
    functions: TransformFunctions | None = None,
) -> ServingPlan:
    """Resolve a feature service (``name`` or ``name@vN``) or a list of feature references.

    A bare service name means its newest serving version whose pinned view versions all
    serve; ``name@vN`` exactly that version, which must be servable (else
    :class:`~parity.errors.ServiceNotServable`). A bare view reference means its newest
    serving version. A service's row transforms are bound to the functions of
    ``functions`` with the code fingerprints the service version was registered with.
    """
    if (feature_service is None) == (features is None):
        raise DefinitionError(
            "Pass exactly one of feature_service='name[@vN]' or features=['view:feature', ...]."
        )
    if feature_service is not None:
        name, version = parse_versioned_name(feature_service)
        history = snapshot.history_of(ObjectKind.FEATURE_SERVICE, name)
        if not history:
            raise FeatureServiceNotFound(
                f"Unknown feature service {name!r}."
                f"{did_you_mean(name, snapshot.names(ObjectKind.FEATURE_SERVICE))}"
            )
        # The serving rule (parity.registry.serving_rule): only a version whose pins all
        # serve answers; the read gets ServiceNotServable, never silent nulls.
        record = servable_service_version(snapshot, name, version)
        service_pins = snapshot.pins.get((name, record.version), ())
        return _plan_from_pins(
            snapshot,
            service_pins,
            service=name,
            service_version=record.version,
            service_spec=record.spec,
            functions=functions,
        )
    assert features is not None
    pins: list[ServicePin] = []
    for ref in features:
        selection = parse_feature_ref(ref)
        record = _live_view(snapshot, selection.view_name, selection.version)
        available = [f["name"] for f in record.spec["features"]]
        for feature in selection.features or available:
            if feature not in available:
                raise FeatureViewNotFound(
                    f"Feature view {record.ref} has no feature {feature!r}."
                    f"{did_you_mean(feature, available)}"
                )
            output = f"{record.name}__{feature}" if full_feature_names else feature
            if output in {p.output_name for p in pins}:
                raise DefinitionError(
                    f"Feature {feature!r} is requested from two views; pass "
                    "full_feature_names=True to name columns 'view__feature'."
                )
            pins.append(ServicePin(len(pins), record.name, record.version, feature, output))
    return _plan_from_pins(snapshot, pins, service=None, service_version=None)
