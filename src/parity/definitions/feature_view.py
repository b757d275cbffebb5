"""Feature views: typed features keyed on entities, read from one source.

Example:
    >>> from datetime import timedelta
    >>> from parity.types import Int64, Float64
    >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
    >>> stats = FeatureView(
    ...     "user_stats",
    ...     entities=[user],
    ...     schema=[Field("spend_7d", Float64, min_value=0)],
    ...     source=ParquetSource("data/user_stats.parquet", timestamp_field="ts"),
    ...     ttl=timedelta(days=2),
    ... )
    >>> stats.join_keys
    ('user_id',)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from typing import Any

from parity.definitions.canonical import (
    check_name,
    check_tags,
    check_text,
    fingerprint,
    spec_reader,
)
from parity.definitions.entity import Entity
from parity.definitions.field import Field
from parity.definitions.source import (
    CDCSource,
    DeltaSource,
    ParquetSource,
    PushSource,
    Source,
    source_from_dict,
)
from parity.definitions.transformation import Aggregation, check_aggregations
from parity.errors import DefinitionError, did_you_mean
from parity.types import require_positive_duration

# Re-exported for the doctest above.
__all__ = ["Entity", "FeatureSelection", "FeatureView", "Field", "FreshnessPolicy", "ParquetSource"]


@dataclass(frozen=True)
class FreshnessPolicy:
    """How fresh online values must be.

    ``max_age``: an online value whose event time is older than this is stale.
    ``refresh_every``: how often a sync is expected; a gap longer than this is a missed
    refresh.

    Example:
        >>> FreshnessPolicy(max_age=timedelta(hours=1)).to_dict()
        {'max_age_seconds': 3600.0, 'refresh_every_seconds': None}
    """

    max_age: timedelta
    _: KW_ONLY
    refresh_every: timedelta | None = None

    def __post_init__(self) -> None:
        require_positive_duration(self.max_age, what="FreshnessPolicy.max_age")
        if self.refresh_every is not None:
            require_positive_duration(self.refresh_every, what="FreshnessPolicy.refresh_every")

    def to_dict(self) -> dict[str, Any]:
        """Canonical form."""
        return {
            "max_age_seconds": self.max_age.total_seconds(),
            "refresh_every_seconds": (
                None if self.refresh_every is None else self.refresh_every.total_seconds()
            ),
        }


@dataclass(frozen=True, eq=False)
class FeatureView:
    """A group of typed features keyed on entities, read from one source.

    ``ttl``: a value whose event time is older than ``t - ttl`` is not valid at ``t``
    (None: values never expire). ``freshness``: the online freshness policy.
    ``aggregations``: the features are windowed aggregations of the source's raw events
    (see :mod:`parity.definitions.transformation`); ``schema`` may then be omitted.

    Example:
        >>> from parity.types import Int64, Float64
        >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
        >>> stats = FeatureView("user_stats", entities=[user],
        ...                     schema=[Field("spend_7d", Float64, min_value=0)],
        ...                     source=ParquetSource("s.parquet", timestamp_field="ts"))
        >>> stats.select("spend_7d").features
        ('spend_7d',)
    """

    name: str
    _: KW_ONLY
    entities: Sequence[Entity]
    schema: Sequence[Field] = ()
    source: Source
    aggregations: Sequence[Aggregation] = ()
    ttl: timedelta | None = None
    freshness: FreshnessPolicy | timedelta | None = None
    online: bool = True
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="FeatureView name")
        what = f"FeatureView {self.name!r}"
        entities = self.entities
        if isinstance(entities, Entity):
            entities = [entities]
        if isinstance(entities, str) or not isinstance(entities, Sequence) or not entities:
            raise DefinitionError(
                f"{what}.entities: expected a non-empty list of Entity objects, got {entities!r}."
            )
        for entity in entities:
            if not isinstance(entity, Entity):
                raise DefinitionError(
                    f"{what}.entities: {entity!r} is not an Entity. Pass the Entity object "
                    "itself, e.g. entities=[user]."
                )
        object.__setattr__(self, "entities", tuple(entities))
        keys = [k for e in self.entities for k in e.join_key_names]
        clashes = sorted({k for k in keys if keys.count(k) > 1})
        if clashes:
            raise DefinitionError(f"{what}: join key(s) {clashes} appear in more than one entity.")
        if self.aggregations:
            aggregations, schema = check_aggregations(
                self.aggregations, self.schema or None, what=what, join_keys=keys
            )
            object.__setattr__(self, "aggregations", aggregations)
            object.__setattr__(self, "schema", schema)
        else:
            object.__setattr__(self, "aggregations", ())
        self._check_schema(what, set(keys))
        if not isinstance(self.source, ParquetSource | DeltaSource | PushSource | CDCSource):
            raise DefinitionError(
                f"{what}.source: expected ParquetSource, DeltaSource, PushSource or a CDC "
                "source, got "
                f"{self.source!r}."
            )
        reserved = {self.source.timestamp_field, self.source.created_timestamp_field} - {None}
        for f in (*self.schema, *(Field(a.column, a.input_dtype) for a in self.aggregations)):
            if f.name in reserved:
                raise DefinitionError(
                    f"{what}: feature {f.name!r} has the name of the source's timestamp "
                    "column. Rename the feature or map the column with field_mapping."
                )
        if self.ttl is not None:
            require_positive_duration(self.ttl, what=f"{what}.ttl")
        freshness = self.freshness
        if isinstance(freshness, timedelta):
            max_age = require_positive_duration(freshness, what=f"{what}.freshness")
            freshness = FreshnessPolicy(max_age)
        if freshness is not None and not isinstance(freshness, FreshnessPolicy):
            raise DefinitionError(
                f"{what}.freshness: expected a FreshnessPolicy or a timedelta, got {freshness!r}."
            )
        object.__setattr__(self, "freshness", freshness)
        if not isinstance(self.online, bool):
            raise DefinitionError(f"{what}.online: expected True or False, got {self.online!r}.")
        check_text(self.description, what=f"{what}.description")
        check_text(self.owner, what=f"{what}.owner")
        object.__setattr__(self, "tags", check_tags(self.tags, what=what))

    def _check_schema(self, what: str, join_keys: set[str]) -> None:
        schema = self.schema
        if isinstance(schema, str) or not isinstance(schema, Sequence) or not schema:
            raise DefinitionError(
                f"{what}.schema: expected a non-empty list of Field, got {schema!r}."
            )
        seen: set[str] = set()
        for f in schema:
            if not isinstance(f, Field):
                raise DefinitionError(f"{what}.schema: {f!r} is not a Field.")
            if f.name in seen:
                raise DefinitionError(
                    f"{what}.schema: feature {f.name!r} is declared twice. Each feature name "
                    "must be unique within a view."
                )
            if f.name in join_keys:
                raise DefinitionError(
                    f"{what}.schema: feature {f.name!r} has the name of a join key. Join keys "
                    "come from the entities; remove it from the schema."
                )
            seen.add(f.name)
        object.__setattr__(self, "schema", tuple(schema))

    @property
    def join_keys(self) -> tuple[str, ...]:
        """All join key names of the view's entities, in order."""
        return tuple(k for e in self.entities for k in e.join_key_names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature names in schema order."""
        return tuple(f.name for f in self.schema)

    def field(self, name: str) -> Field:
        """The field called ``name``; a helpful error names close matches."""
        for f in self.schema:
            if f.name == name:
                return f
        raise DefinitionError(
            f"FeatureView {self.name!r} has no feature {name!r}."
            f"{did_you_mean(name, self.feature_names)} Features: {', '.join(self.feature_names)}."
        )

    def select(self, *features: str) -> FeatureSelection:
        """A subset of this view's features, for a feature service.

        Example:
            >>> from parity.types import Int64, Float64
            >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
            >>> stats = FeatureView("user_stats", entities=[user],
            ...                     schema=[Field("spend_7d", Float64)],
            ...                     source=ParquetSource("s.parquet", timestamp_field="ts"))
            >>> stats.select("spend_7d").view_name
            'user_stats'
        """
        for name in features:
            self.field(name)
        return FeatureSelection(self.name, features=tuple(features))

    def semantic_dict(self) -> dict[str, Any]:
        """The part of the canonical form that decides the values (everything but metadata)."""
        data = self.to_dict()
        for key in ("description", "owner", "tags"):
            data.pop(key)
        return data

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the view."""
        return {
            "kind": "feature_view",
            "name": self.name,
            "entities": [{"name": e.name, "join_keys": e.key_dict()} for e in self.entities],
            "features": [f.to_dict() for f in self.schema],
            "source": self.source.to_dict(),
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "freshness": None if self.freshness is None else self.freshness.to_dict(),  # type: ignore[union-attr]
            "online": self.online,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
            # Only when present, so views without aggregations keep their fingerprints.
            **(
                {"aggregations": [a.to_dict() for a in self.aggregations]}
                if self.aggregations
                else {}
            ),
        }

    @classmethod
    @spec_reader
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureView:
        """Rebuild a view from :meth:`to_dict` output (entities carry their keys)."""
        freshness = data.get("freshness")
        return cls(
            data["name"],
            entities=[
                Entity(
                    e["name"],
                    join_keys=[
                        Field(k["name"], k["dtype"], nullable=False) for k in e["join_keys"]
                    ],
                )
                for e in data["entities"]
            ],
            schema=[Field.from_dict(f) for f in data["features"]],
            source=source_from_dict(data["source"]),
            ttl=None if data["ttl_seconds"] is None else timedelta(seconds=data["ttl_seconds"]),
            freshness=None
            if freshness is None
            else FreshnessPolicy(
                timedelta(seconds=freshness["max_age_seconds"]),
                refresh_every=None
                if freshness["refresh_every_seconds"] is None
                else timedelta(seconds=freshness["refresh_every_seconds"]),
            ),
            online=data.get("online", True),
            aggregations=[Aggregation.from_dict(a) for a in data.get("aggregations", [])],
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
        return hash(("feature_view", self.name, self.fingerprint))


@dataclass(frozen=True)
class FeatureSelection:
    """Some features of one view, optionally pinned to a version, as used in a service.

    Example:
        >>> FeatureSelection("user_stats", features=("spend_7d",), version=2).ref
        'user_stats@v2:spend_7d'
    """

    view_name: str
    _: KW_ONLY
    features: tuple[str, ...] | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        check_name(self.view_name, what="feature reference view name")
        if self.features is not None:
            if isinstance(self.features, str):
                raise DefinitionError(
                    f"feature reference {self.view_name!r}: features must be a tuple of names, "
                    f"got the string {self.features!r}. Example: features=({self.features!r},)."
                )
            object.__setattr__(self, "features", tuple(self.features))
            if not self.features:
                raise DefinitionError(
                    f"feature reference {self.view_name!r}: the feature list is empty. Name at "
                    "least one feature, or reference the view itself for all of its features."
                )
            for name in self.features:
                check_name(name, what=f"feature reference {self.view_name}:{name}")
            repeated = sorted({f for f in self.features if self.features.count(f) > 1})
            if repeated:
                raise DefinitionError(
                    f"feature reference {self.view_name!r}: feature(s) {repeated} are listed "
                    "more than once."
                )
        if self.version is not None and (
            isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1
        ):
            raise DefinitionError(
                f"feature reference {self.view_name!r}: version must be a positive integer, "
                f"got {self.version!r}."
            )

    @property
    def ref(self) -> str:
        """The reference as a string: ``view[@vN][:f1,f2]``."""
        head = self.view_name if self.version is None else f"{self.view_name}@v{self.version}"
        return head if self.features is None else f"{head}:{','.join(self.features)}"

    def to_dict(self) -> dict[str, Any]:
        """Canonical form."""
        return {
            "view": self.view_name,
            "version": self.version,
            "features": None if self.features is None else list(self.features),
        }
