"""Entities: the typed join keys features are keyed on.

Example:
    >>> from parity.types import Int64
    >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
    >>> user.join_key_names
    ('user_id',)
"""

from __future__ import annotations

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
from parity.definitions.field import Field
from parity.errors import DefinitionError


@dataclass(frozen=True, eq=False)
class Entity:
    """A named, typed join key (or several, for a composite key).

    Example:
        >>> from parity.types import Int64, String
        >>> Entity("merchant", join_keys=[Field("merchant_id", Int64),
        ...                               Field("country", String)]).join_key_names
        ('merchant_id', 'country')
    """

    name: str
    _: KW_ONLY
    join_keys: Sequence[Field]
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="Entity name")
        what = f"Entity {self.name!r}"
        keys = self.join_keys
        if isinstance(keys, Field):
            keys = [keys]
        if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
            raise DefinitionError(
                f"{what}.join_keys: expected a non-empty list of Field, got {keys!r}. "
                "Example: join_keys=[Field('user_id', Int64)]."
            )
        seen: set[str] = set()
        for key in keys:
            if not isinstance(key, Field):
                raise DefinitionError(
                    f"{what}.join_keys: {key!r} is not a Field; join keys are typed. "
                    f"Example: Field({key!r}, Int64)."
                )
            if not key.dtype.is_scalar or key.dtype.kind in ("float32", "float64"):
                raise DefinitionError(
                    f"{what}.join_keys: key {key.name!r} has type {key.dtype.name}; join keys "
                    "must be int32, int64, string, bytes, bool or timestamp (floats compare "
                    "inexactly)."
                )
            if key.name in seen:
                raise DefinitionError(f"{what}.join_keys: {key.name!r} is listed twice.")
            seen.add(key.name)
        object.__setattr__(self, "join_keys", tuple(keys))
        check_text(self.description, what=f"{what}.description")
        check_text(self.owner, what=f"{what}.owner")
        object.__setattr__(self, "tags", check_tags(self.tags, what=what))

    @property
    def join_key_names(self) -> tuple[str, ...]:
        """The join key column names, in declaration order."""
        return tuple(key.name for key in self.join_keys)

    def key_dict(self) -> list[dict[str, str]]:
        """The semantic part: join key names and types."""
        return [{"name": key.name, "dtype": key.dtype.name} for key in self.join_keys]

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the entity."""
        return {
            "kind": "entity",
            "name": self.name,
            "join_keys": self.key_dict(),
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    @spec_reader
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        """Rebuild an entity from :meth:`to_dict` output."""
        return cls(
            data["name"],
            join_keys=[Field(k["name"], k["dtype"], nullable=False) for k in data["join_keys"]],
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
        return hash(("entity", self.name, self.join_key_names))
