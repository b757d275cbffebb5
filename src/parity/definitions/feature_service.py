"""Feature services: the ordered list of features one model consumes.

The order is canonical: training frames and serving vectors come out in exactly this
order. On apply, the registry resolves every reference to a pinned view version.

A service may also carry row transforms (:class:`~parity.RowTransform`) over its features
and over request fields: typed values the caller sends with each entity row (online) or
as extra columns of the entity frame (offline), declared in ``request_schema``. Transform
outputs come after the view features, in the order the transforms and their outputs are
declared. The service is where request data and features of several views meet, which is
why transforms belong to it and not to a view.

Example:
    >>> svc = FeatureService("fraud", features=["user_stats:spend_7d", "merchant_risk"])
    >>> [s.ref for s in svc.selections]
    ['user_stats:spend_7d', 'merchant_risk']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from parity.definitions.canonical import (
    check_name,
    check_tags,
    check_text,
    fingerprint,
    spec_reader,
)
from parity.definitions.feature_view import FeatureSelection, FeatureView
from parity.definitions.field import Field
from parity.definitions.row_transform import RowTransform, TransformSpec
from parity.errors import DefinitionError, did_you_mean

_REF = re.compile(
    r"^(?P<view>[A-Za-z_][A-Za-z0-9_]*)(?:@v(?P<version>\d+))?(?::(?P<features>[A-Za-z0-9_,\s]+))?$"
)
_VERSIONED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:@v(?P<version>\d+))?$")

FeatureRef = str | FeatureView | FeatureSelection
Transform = RowTransform | TransformSpec


def parse_versioned_name(text: str) -> tuple[str, int | None]:
    """Split ``name@vN`` into ``(name, N)``; a bare name gives ``(name, None)``.

    Example:
        >>> parse_versioned_name("user_stats@v3")
        ('user_stats', 3)
    """
    match = _VERSIONED.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise DefinitionError(
            f"Invalid reference {text!r}: expected NAME or NAME@vN, e.g. 'user_stats@v2'."
        )
    version = match.group("version")
    return match.group("name"), None if version is None else int(version)


def parse_feature_ref(ref: FeatureRef) -> FeatureSelection:
    """Turn a string, a view or a selection into a :class:`FeatureSelection`.

    Example:
        >>> parse_feature_ref("user_stats@v2:spend_7d,spend_30d").features
        ('spend_7d', 'spend_30d')
    """
    if isinstance(ref, FeatureSelection):
        return ref
    if isinstance(ref, FeatureView):
        return FeatureSelection(ref.name)
    if not isinstance(ref, str):
        raise DefinitionError(
            f"Feature reference {ref!r}: expected 'view', 'view:feature', 'view@vN:feature', "
            "a FeatureView or view.select(...)."
        )
    match = _REF.match(ref.strip())
    if not match:
        raise DefinitionError(
            f"Feature reference {ref!r} is malformed: expected 'view', 'view:f1,f2' or "
            "'view@v2:f1'."
        )
    features = match.group("features")
    version = match.group("version")
    return FeatureSelection(
        match.group("view"),
        features=None if features is None else tuple(f.strip() for f in features.split(",")),
        version=None if version is None else int(version),
    )


@dataclass(frozen=True, eq=False)
class FeatureService:
    """An ordered list of feature references for one model.

    ``full_feature_names``: name output columns ``view__feature`` so that features of the
    same name in different views can coexist. ``request_schema``: the typed fields callers
    send with each entity row, for ``transforms`` to read. A service rebuilt from the
    registry holds :class:`~parity.definitions.row_transform.TransformSpec` values (no
    callables); the functions come from the repository when a plan is resolved.

    Example:
        >>> FeatureService("fraud", features=["user_stats"]).to_dict()["features"]
        [{'view': 'user_stats', 'version': None, 'features': None}]
    """

    name: str
    _: KW_ONLY
    features: Sequence[FeatureRef]
    transforms: Sequence[Transform] = ()
    request_schema: Sequence[Field] = ()
    full_feature_names: bool = False
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="FeatureService name")
        what = f"FeatureService {self.name!r}"
        if (
            isinstance(self.features, str)
            or not isinstance(self.features, Sequence)
            or not self.features
        ):
            raise DefinitionError(
                f"{what}.features: expected a non-empty list of feature references, got "
                f"{self.features!r}."
            )
        selections = tuple(parse_feature_ref(ref) for ref in self.features)
        views = [s.view_name for s in selections]
        repeated = sorted({v for v in views if views.count(v) > 1})
        if repeated:
            raise DefinitionError(
                f"{what}: view(s) {repeated} are referenced more than once. List all the "
                "features of a view in one reference, e.g. 'view:f1,f2'."
            )
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "_selections", selections)
        if not isinstance(self.full_feature_names, bool):
            raise DefinitionError(
                f"{what}.full_feature_names: expected True or False, got "
                f"{self.full_feature_names!r}."
            )
        check_text(self.description, what=f"{what}.description")
        check_text(self.owner, what=f"{what}.owner")
        object.__setattr__(self, "tags", check_tags(self.tags, what=what))
        request = _check_request_schema(self.request_schema, what)
        object.__setattr__(self, "request_schema", request)
        object.__setattr__(self, "transforms", _check_transforms(self.transforms, request, what))

    @property
    def selections(self) -> tuple[FeatureSelection, ...]:
        """The references, parsed, in canonical order."""
        return self._selections  # type: ignore[attr-defined, no-any-return]

    def views_given_as_objects(self) -> tuple[FeatureView, ...]:
        """Views passed as objects (not strings), so the repo loader can collect them."""
        return tuple(ref for ref in self.features if isinstance(ref, FeatureView))

    @property
    def transform_specs(self) -> tuple[TransformSpec, ...]:
        """The transforms' registered forms, in declaration order."""
        return tuple(t.spec if isinstance(t, RowTransform) else t for t in self.transforms)

    @property
    def transform_output_names(self) -> tuple[str, ...]:
        """The transforms' output columns, in canonical order (after the view features)."""
        return tuple(name for t in self.transform_specs for name in t.output_names)

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the service (transform keys only when it has transforms)."""
        data: dict[str, Any] = {
            "kind": "feature_service",
            "name": self.name,
            "features": [s.to_dict() for s in self.selections],
            "full_feature_names": self.full_feature_names,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }
        # Absent rather than empty, so services without transforms keep their fingerprint.
        if self.request_schema:
            data["request_schema"] = [f.to_dict() for f in self.request_schema]
        if self.transforms:
            data["transforms"] = [t.to_dict() for t in self.transform_specs]
        return data

    @classmethod
    @spec_reader
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureService:
        """Rebuild a service from :meth:`to_dict` output."""
        return cls(
            data["name"],
            features=[
                FeatureSelection(
                    f["view"],
                    features=None if f["features"] is None else tuple(f["features"]),
                    version=f["version"],
                )
                for f in data["features"]
            ],
            transforms=[TransformSpec.from_dict(t) for t in data.get("transforms", [])],
            request_schema=[Field.from_dict(f) for f in data.get("request_schema", [])],
            full_feature_names=data.get("full_feature_names", False),
            description=data.get("description", ""),
            owner=data.get("owner", ""),
            tags=data.get("tags", {}),
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical form."""
        return fingerprint(self.to_dict())

    def __eq__(self, other: object) -> bool:
        # Identity is the canonical form: two definitions that serialise alike are equal.
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(("feature_service", self.name, self.fingerprint))


def _check_request_schema(schema: object, what: str) -> tuple[Field, ...]:
    if isinstance(schema, Field):
        schema = [schema]
    if isinstance(schema, str) or not isinstance(schema, Sequence):
        raise DefinitionError(f"{what}.request_schema: expected a list of Field, got {schema!r}.")
    fields = tuple(schema)
    names: list[str] = []
    for item in fields:
        if not isinstance(item, Field):
            raise DefinitionError(f"{what}.request_schema: {item!r} is not a Field.")
        if not item.dtype.is_scalar:
            raise DefinitionError(
                f"{what}.request_schema: {item.name!r} is {item.dtype.name}; request fields are "
                "scalars (int, float, bool, string, bytes, timestamp)."
            )
        if item.name in names:
            raise DefinitionError(f"{what}.request_schema: {item.name!r} is declared twice.")
        names.append(item.name)
    return fields


def _check_transforms(
    transforms: object, request: Sequence[Field], what: str
) -> tuple[Transform, ...]:
    if isinstance(transforms, RowTransform | TransformSpec):
        transforms = [transforms]
    if isinstance(transforms, str) or not isinstance(transforms, Sequence):
        raise DefinitionError(
            f"{what}.transforms: expected a list of RowTransform, got {transforms!r}."
        )
    items = tuple(transforms)
    taken = {f.name: "request field" for f in request}
    for item in items:
        if not isinstance(item, RowTransform | TransformSpec):
            raise DefinitionError(f"{what}.transforms: {item!r} is not a RowTransform.")
        for name in item.output_names:
            if name in taken:
                raise DefinitionError(
                    f"{what}: transform {item.name!r} outputs {name!r}, which is already a "
                    f"{taken[name]}. Give the output another name."
                )
            taken[name] = f"output of transform {item.name!r}"
    names = [t.name for t in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DefinitionError(f"{what}.transforms: transform name(s) {repeated} used twice.")
    return items


def check_transform_inputs(
    service: Mapping[str, Any], outputs: Sequence[tuple[str, str, str]]
) -> None:
    """Check that every transform input of a service spec names something it has.

    ``outputs`` are the service's view features as ``(view, feature, output column)``.
    An input may be an output column, ``view:feature``, a request field, or an output of
    an earlier transform; a transform output may not shadow a view feature.

    Example:
        >>> spec = FeatureService("s", features=["v:a"]).to_dict()
        >>> check_transform_inputs(spec, [("v", "a", "a")])
    """
    what = f"FeatureService {service['name']!r}"
    known = {output for _, _, output in outputs}
    known |= {f"{view}:{feature}" for view, feature, _ in outputs}
    known |= {f["name"] for f in service.get("request_schema", [])}
    columns = {output for _, _, output in outputs}
    for request in service.get("request_schema", []):
        if request["name"] in columns:
            raise DefinitionError(
                f"{what}: request field {request['name']!r} has the name of a view feature of the "
                "service. Rename the request field."
            )
    for transform in service.get("transforms", []):
        for name in transform["inputs"]:
            if name not in known:
                raise DefinitionError(
                    f"{what}: transform {transform['name']!r} reads {name!r}, which is neither a "
                    f"feature of the service, a request field, nor an earlier transform's output."
                    f"{did_you_mean(name, known)} Add it to features= or request_schema=."
                )
        for out in transform["outputs"]:
            if out["name"] in columns:
                raise DefinitionError(
                    f"{what}: transform {transform['name']!r} outputs {out['name']!r}, which is "
                    "also a view feature of the service. Give the output another name."
                )
            known.add(out["name"])
