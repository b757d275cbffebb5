"""Canonical serialisation and fingerprints of definitions.

Two definitions are the same exactly when their canonical JSON is the same: keys sorted,
no insignificant white space, durations in seconds. The fingerprint is the SHA-256 of
that text, so it is stable across processes, machines and releases.

Example:
    >>> fingerprint({"b": 1, "a": [1, 2]}) == fingerprint({"a": [1, 2], "b": 1})
    True
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from parity.errors import DefinitionError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def canonical_json(data: Mapping[str, Any]) -> str:
    """Serialise a definition dict in its one canonical spelling."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(data: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def check_name(name: object, *, what: str) -> str:
    """Validate a name: letters, digits and underscores, not starting with a digit.

    Example:
        >>> check_name("user_id", what="entity join key")
        'user_id'
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{what}: invalid name {name!r}. Use 1-128 letters, digits or underscores, "
            "not starting with a digit (the characters '@' and ':' are reserved for "
            "version and feature references)."
        )
    return name


def check_tags(tags: object, *, what: str) -> dict[str, str]:
    """Validate a tags mapping of strings to strings and return a sorted copy."""
    if not isinstance(tags, Mapping):
        raise DefinitionError(f"{what}.tags: expected a dict of str to str, got {tags!r}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise DefinitionError(
                f"{what}.tags: keys and values must be strings, got {key!r}: {value!r}."
            )
    return dict(sorted(tags.items()))


def check_text(value: object, *, what: str) -> str:
    """Validate a free-text attribute such as a description or an owner."""
    if not isinstance(value, str):
        raise DefinitionError(f"{what}: expected a string, got {value!r}.")
    return value


_Spec = TypeVar("_Spec")


def spec_reader(
    read: Callable[[type[_Spec], Mapping[str, Any]], _Spec],
) -> Callable[[type[_Spec], Mapping[str, Any]], _Spec]:
    """Wrap a ``from_dict``: a malformed spec (a missing key, a value of the wrong type)
    raises ``DefinitionError`` naming the kind, never a bare ``KeyError``/``TypeError``.

    Example:
        >>> from parity.definitions import Entity
        >>> try:
        ...     Entity.from_dict({"name": "user"})
        ... except DefinitionError as exc:
        ...     print(str(exc).split(":")[0])
        Entity spec 'user' is malformed
    """

    @functools.wraps(read)
    def reader(cls: type[_Spec], data: Mapping[str, Any]) -> _Spec:
        try:
            return read(cls, data)
        except DefinitionError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            name = data.get("name") if isinstance(data, Mapping) else None
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise DefinitionError(
                f"{cls.__name__} spec {name!r} is malformed: {what}. Specs are written by "
                "parity apply; re-apply the definitions instead of editing stored specs."
            ) from exc

    return reader
