"""Feature services: the ordered list of features one model consumes.

The order is canonical: training frames and serving vectors come out in exactly this
order. On apply, the registry resolves every reference to a pinned view version.

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

from parity.definitions.canonical import check_name, check_tags, check_text, fingerprint
from parity.definitions.feature_view import FeatureSelection, FeatureView
from parity.errors import DefinitionError

_REF = re.compile(
    r"^(?P<view>[A-Za-z_][A-Za-z0-9_]*)(?:@v(?P<version>\d+))?(?::(?P<features>[A-Za-z0-9_,\s]+))?$"
)
_VERSIONED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:@v(?P<version>\d+))?$")

FeatureRef = str | FeatureView | FeatureSelection


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
    same name in different views can coexist.

    Example:
        >>> FeatureService("fraud", features=["user_stats"]).to_dict()["features"]
        [{'view': 'user_stats', 'version': None, 'features': None}]
    """

    name: str
    _: KW_ONLY
    features: Sequence[FeatureRef]
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

    @property
    def selections(self) -> tuple[FeatureSelection, ...]:
        """The references, parsed, in canonical order."""
        return self._selections  # type: ignore[attr-defined, no-any-return]

    def views_given_as_objects(self) -> tuple[FeatureView, ...]:
        """Views passed as objects (not strings), so the repo loader can collect them."""
        return tuple(ref for ref in self.features if isinstance(ref, FeatureView))

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the service."""
        return {
            "kind": "feature_service",
            "name": self.name,
            "features": [s.to_dict() for s in self.selections],
            "full_feature_names": self.full_feature_names,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
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
