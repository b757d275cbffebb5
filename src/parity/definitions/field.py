"""Typed fields and their data contract.

A :class:`Field` is one typed column of a feature view. Its data contract (nullability,
range, allowed values, regex) travels with it: the sync controller checks every row
against it before anything is served.

Example:
    >>> from parity.types import Float64
    >>> amount = Field("amount", Float64, nullable=False, min_value=0)
    >>> amount.to_dict()["contract"]
    {'min_value': 0}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from parity.definitions.canonical import check_name, check_tags, check_text
from parity.errors import DefinitionError
from parity.types import DType, parse_dtype

Scalar = int | float | str | bool


@dataclass(frozen=True)
class Field:
    """One typed column with its contract.

    Example:
        >>> from parity.types import String
        >>> Field("country", String, allowed_values=["DE", "FR"]).allowed_values
        ('DE', 'FR')
    """

    name: str
    dtype: DType
    _: KW_ONLY
    nullable: bool = True
    min_value: int | float | None = None
    max_value: int | float | None = None
    allowed_values: Sequence[Scalar] | None = None
    regex: str | None = None
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        what = f"Field {self.name!r}"
        check_name(self.name, what="Field name")
        dtype = parse_dtype(self.dtype, what=f"{what}.dtype")
        object.__setattr__(self, "dtype", dtype)
        if not isinstance(self.nullable, bool):
            raise DefinitionError(
                f"{what}.nullable: expected True or False, got {self.nullable!r}."
            )
        for bound in ("min_value", "max_value"):
            value = getattr(self, bound)
            if value is None:
                continue
            if not dtype.is_numeric:
                raise DefinitionError(
                    f"{what}.{bound}={value!r}: ranges apply to numeric fields only, "
                    f"this field is {dtype.name}. Remove {bound} or use allowed_values."
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DefinitionError(f"{what}.{bound}: expected a number, got {value!r}.")
            if value != value:  # NaN: every comparison with it is false, so it checks nothing
                raise DefinitionError(f"{what}.{bound}: expected a number, got {value!r}.")
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise DefinitionError(
                f"{what}: min_value {self.min_value!r} is greater than max_value "
                f"{self.max_value!r}. Swap them."
            )
        if self.allowed_values is not None:
            object.__setattr__(self, "allowed_values", self._check_allowed(dtype, what))
        if self.regex is not None:
            if dtype.kind != "string":
                raise DefinitionError(
                    f"{what}.regex: a regex applies to string fields only, this field is "
                    f"{dtype.name}."
                )
            try:
                re.compile(self.regex)
            except (re.error, TypeError) as exc:
                raise DefinitionError(
                    f"{what}.regex {self.regex!r} does not compile: {exc}."
                ) from exc
        check_text(self.description, what=f"{what}.description")
        object.__setattr__(self, "tags", check_tags(self.tags, what=what))

    def _check_allowed(self, dtype: DType, what: str) -> tuple[Scalar, ...]:
        values = self.allowed_values
        if isinstance(values, str) or not isinstance(values, Sequence | set | frozenset):
            raise DefinitionError(
                f"{what}.allowed_values: expected a list of values, got {values!r}."
            )
        expected: tuple[type, ...]
        if dtype.kind == "string":
            expected = (str,)
        elif dtype.is_integer:
            expected = (int,)
        elif dtype.kind == "bool":
            expected = (bool,)
        else:
            raise DefinitionError(
                f"{what}.allowed_values: allowed values apply to string, integer and bool "
                f"fields, this field is {dtype.name}. Use min_value/max_value instead."
            )
        items = tuple(values)
        for item in items:
            wrong_bool = isinstance(item, bool) and dtype.kind != "bool"
            if wrong_bool or not isinstance(item, expected):
                raise DefinitionError(
                    f"{what}.allowed_values: {item!r} is not a {dtype.name} value."
                )
        if not items:
            raise DefinitionError(f"{what}.allowed_values: the list is empty; nothing could pass.")
        # Set semantics: order and repeats carry no meaning, so the canonical form sorts.
        return tuple(sorted(set(items)))

    def contract(self) -> dict[str, Any]:
        """The contract part of the canonical form (only the constraints that are set)."""
        out: dict[str, Any] = {}
        if self.min_value is not None:
            out["min_value"] = self.min_value
        if self.max_value is not None:
            out["max_value"] = self.max_value
        if self.allowed_values is not None:
            out["allowed_values"] = list(self.allowed_values)
        if self.regex is not None:
            out["regex"] = self.regex
        return out

    def to_dict(self) -> dict[str, Any]:
        """Canonical form of the field."""
        return {
            "name": self.name,
            "dtype": self.dtype.name,
            "nullable": self.nullable,
            "contract": self.contract(),
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Field:
        """Rebuild a field from :meth:`to_dict` output."""
        contract = data.get("contract", {})
        return cls(
            data["name"],
            parse_dtype(data["dtype"]),
            nullable=data["nullable"],
            min_value=contract.get("min_value"),
            max_value=contract.get("max_value"),
            allowed_values=contract.get("allowed_values"),
            regex=contract.get("regex"),
            description=data.get("description", ""),
            tags=data.get("tags", {}),
        )

    def __hash__(self) -> int:
        return hash((self.name, self.dtype))
