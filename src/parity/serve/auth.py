"""API keys: generated at random, stored as SHA-256 hashes, compared in constant time.

A key is 32 random bytes (URL-safe base64), so a plain SHA-256 is enough to keep it
secret at rest (a slow hash protects guessable passwords; these are not) and costs a
microsecond per request. Clients send ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``. ``admin`` implies every scope.

Example:
    >>> key = generate_api_key()
    >>> from parity.serve.config import ApiKeyConfig, Scope
    >>> keys = ApiKeys([ApiKeyConfig(name="ci", hash=hash_api_key(key), scopes=["read"])])
    >>> keys.authenticate(key).name, keys.authenticate(key).allows(Scope.PUSH)
    ('ci', False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from parity.errors import Forbidden, Unauthenticated
from parity.serve.config import HASH_PREFIX, ApiKeyConfig, Scope

KEY_PREFIX = "pk_"


def generate_api_key() -> str:
    """A new random API key (``pk_`` + 43 URL-safe characters).

    Example:
        >>> generate_api_key().startswith("pk_")
        True
    """
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The form of ``key`` to put in ``parity.yaml``: ``sha256:<hex>``.

    Example:
        >>> hash_api_key("secret")[:15]
        'sha256:2bb80d53'
    """
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who made a request: the key's name and scopes (``local`` in development mode).

    Example:
        >>> Principal("local", frozenset(Scope)).allows(Scope.ADMIN)
        True
    """

    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        """True if the key has ``scope`` or ``admin``."""
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def require(self, scope: Scope, *, endpoint: str) -> None:
        """Raise :class:`Forbidden` unless the key has ``scope``."""
        if not self.allows(scope):
            have = ", ".join(sorted(self.scopes)) or "none"
            raise Forbidden(
                f"API key {self.name!r} may not call {endpoint}: it needs the {scope.value!r} "
                f"scope and has {have}. Add the scope to the key in server.api_keys."
            )


LOCAL = Principal("local", frozenset(Scope))


class ApiKeys:
    """The configured keys; :meth:`authenticate` maps a presented key to its principal.

    With no keys configured every request is :data:`LOCAL` (development mode).

    Example:
        >>> ApiKeys([]).authenticate(None).name
        'local'
    """

    def __init__(self, keys: Sequence[ApiKeyConfig]) -> None:
        self._keys = [
            (
                bytes.fromhex(k.hash.removeprefix(HASH_PREFIX)),
                Principal(k.name, frozenset(k.scopes)),
            )
            for k in keys
        ]

    @property
    def enabled(self) -> bool:
        """False in local development mode (no key configured)."""
        return bool(self._keys)

    def authenticate(self, presented: str | None) -> Principal:
        """The principal of ``presented``; raises :class:`Unauthenticated` if unknown."""
        if not self._keys:
            return LOCAL
        if not presented:
            raise Unauthenticated(
                "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
            )
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        # Compare with every key, always: the time taken never depends on which matched.
        for expected, principal in self._keys:
            if hmac.compare_digest(digest, expected):
                found = principal
        if found is None:
            raise Unauthenticated(
                "Unknown API key (it matches none of server.api_keys). Check the key, or "
                "ask for one: 'parity serve hash-key' makes a key and its hash."
            )
        return found


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key of a request's headers (``Authorization: Bearer`` wins).

    Example:
        >>> presented_key("Bearer abc", None)
        'abc'
    """
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return x_api_key or None
