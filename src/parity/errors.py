"""Errors raised by parity.

Every error derives from :class:`ParityError`. Two marker classes tell callers whether a
retry can help: :class:`Transient` (a server was unreachable, a lock was held) and
:class:`Terminal` (the input is wrong; retrying changes nothing). Messages say what
failed, the offending value and the fix.

Example:
    >>> try:
    ...     raise FeatureViewNotFound("Unknown feature view 'txn'. Did you mean 'txns'?")
    ... except KeyError as exc:
    ...     isinstance(exc, ParityError)
    True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ParityError(Exception):
    """Root of every error parity raises."""

    def __str__(self) -> str:
        # KeyError quotes its argument; keep messages readable for the KeyError mixins.
        return str(self.args[0]) if self.args else self.__class__.__name__


class Transient:
    """Marker: the operation may succeed if retried later."""


class Terminal:
    """Marker: retrying with the same input cannot succeed."""


class DefinitionError(ParityError, Terminal, ValueError):
    """A feature definition is invalid (bad name, type, ttl, reference...)."""


class ConfigError(ParityError, Terminal, ValueError):
    """``parity.yaml`` or an environment override is invalid."""


class RepoImportError(ParityError, Terminal):
    """A definition file of the feature repository failed to import."""


class RegistryUnreachable(ParityError, Transient, ConnectionError):
    """The registry database could not be reached."""


class ObjectNotFound(ParityError, Terminal, KeyError):
    """A named object does not exist in the registry."""


class EntityNotFound(ObjectNotFound):
    """No entity of that name."""


class FeatureViewNotFound(ObjectNotFound):
    """No feature view (or view version) of that name."""


class FeatureServiceNotFound(ObjectNotFound):
    """No feature service (or service version) of that name."""


class ChangeRefused(ParityError, Terminal):
    """An apply contains a change that parity refuses to make in place."""


class AmbiguousReference(ParityError, Terminal, ValueError):
    """A name that must carry an explicit version (``name@vN``) was given without one."""


class InvalidTransition(ParityError, Terminal):
    """A version lifecycle move that is not allowed from the current state."""


class SchemaMismatch(ParityError, Terminal, ValueError):
    """Data does not match the schema a definition declares."""


class NaiveTimestampError(ParityError, Terminal, ValueError):
    """A timestamp without a time zone was given where UTC is required."""


class OnlineStoreUnavailable(ParityError, Transient, ConnectionError):
    """The online store could not be reached."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest choice, or an empty string.

    Example:
        >>> did_you_mean("rediss", ["redis", "sqlite"])
        " Did you mean 'redis'?"
    """
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""
