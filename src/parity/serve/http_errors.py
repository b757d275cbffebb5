"""HTTP status codes for parity errors, and the errors only the server raises.

Every error answer is ``{"error": {"type": ..., "message": ...}}`` with the status code of
the error's class: the message is the one parity wrote for people (what failed, the
value, the fix). An error of a class listed nowhere is a bug and answers 500.

Example:
    >>> from parity.errors import FeatureServiceNotFound, OnlineStoreUnavailable
    >>> status_for(FeatureServiceNotFound("Unknown feature service 'frad'.")), status_for(
    ...     OnlineStoreUnavailable("Redis is down"))
    (404, 503)
"""

from __future__ import annotations

from parity.errors import (
    AmbiguousReference,
    ConfigError,
    DefinitionError,
    NaiveTimestampError,
    ObjectNotFound,
    OnlineStoreUnavailable,
    ParityError,
    RegistryUnreachable,
    SchemaMismatch,
    Terminal,
)
from parity.monitor.blocking import ServingBlocked


class BadRequest(ParityError, Terminal, ValueError):
    """The request body is not what the endpoint takes (malformed JSON, wrong shape)."""


class RequestTooLarge(ParityError, Terminal, ValueError):
    """The request is over ``server.max_request_bytes`` or ``server.max_entities``."""


class Unauthenticated(ParityError, Terminal):
    """No API key, or an unknown one."""


class Forbidden(ParityError, Terminal):
    """The API key is valid but lacks the scope the endpoint needs."""


class PushIdConflict(ParityError, Terminal, ValueError):
    """A push id was reused for a different push (other rows, source or mode)."""


# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RequestTooLarge, 413),
    (PushIdConflict, 409),
    (BadRequest, 400),
    (ObjectNotFound, 404),
    (NaiveTimestampError, 422),
    (SchemaMismatch, 422),
    (AmbiguousReference, 400),
    (DefinitionError, 400),
    (OnlineStoreUnavailable, 503),
    (ServingBlocked, 503),
    (RegistryUnreachable, 503),
    (ConfigError, 500),
)


def status_for(error: BaseException) -> int:
    """The HTTP status of ``error`` (500 for anything unexpected)."""
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def error_body(error: BaseException) -> dict[str, dict[str, str]]:
    """The JSON body of an error answer.

    Example:
        >>> error_body(BadRequest("Body is not JSON."))
        {'error': {'type': 'BadRequest', 'message': 'Body is not JSON.'}}
    """
    if isinstance(error, ParityError):
        return {"error": {"type": type(error).__name__, "message": str(error)}}
    return {"error": {"type": "InternalError", "message": "Internal server error; see the log."}}
