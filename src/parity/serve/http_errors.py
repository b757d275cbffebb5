"""The HTTP status of every parity error: one table, used by every endpoint.

Every error answer is ``{"error": {"type": ..., "message": ...}}`` with the status code of
the error's class: the message is the one parity wrote for people (what failed, the
value, the fix). An error of a class listed nowhere is a bug and answers 500. The error
classes themselves live in :mod:`parity.errors`; the client maps an answer back to its
class by the ``type`` name (:data:`parity.errors.PUBLIC_ERRORS`), so it never imports
this module.

Example:
    >>> from parity.errors import FeatureServiceNotFound, OnlineStoreUnavailable
    >>> status_for(FeatureServiceNotFound("Unknown feature service 'frad'.")), status_for(
    ...     OnlineStoreUnavailable("Redis is down"))
    (404, 503)
"""

from __future__ import annotations

from parity.errors import (
    AmbiguousReference,
    BadRequest,
    ConfigError,
    DefinitionError,
    Forbidden,
    InvalidTransition,
    NaiveTimestampError,
    ObjectNotFound,
    OnlineStoreUnavailable,
    ParityError,
    PushIdConflict,
    RegistryUnreachable,
    RequestTooLarge,
    SchemaMismatch,
    ServiceNotServable,
    ServingBlocked,
    SourceUnreadable,
    StorageAccessDenied,
    StorageBucketNotFound,
    StorageUnavailable,
    StreamDependencyDown,
    SyncFailed,
    Unauthenticated,
)

# Most specific first: the first class an error is an instance of decides.
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RequestTooLarge, 413),
    (PushIdConflict, 409),
    (BadRequest, 400),
    (ObjectNotFound, 404),
    (NaiveTimestampError, 422),
    (SchemaMismatch, 422),
    (AmbiguousReference, 400),
    (InvalidTransition, 409),
    (DefinitionError, 400),
    (OnlineStoreUnavailable, 503),
    (ServingBlocked, 503),
    (ServiceNotServable, 503),
    (RegistryUnreachable, 503),
    (StreamDependencyDown, 503),
    # A damaged offline table (a missing Delta commit): nothing was written, and a retry
    # with the same push_id applies the push exactly once after an operator repaired it.
    (SourceUnreadable, 503),
    (StorageUnavailable, 503),
    (StorageAccessDenied, 500),
    (StorageBucketNotFound, 500),
    (ConfigError, 500),
    # A sync run's failure outside parity (source files, disk): the server's fault, logged.
    (SyncFailed, 500),
)
"""Error class -> HTTP status, most specific first (the first match decides)."""


def status_for(error: BaseException) -> int:
    """The HTTP status of ``error`` (500 for anything unexpected).

    Example:
        >>> status_for(BadRequest("Body is not JSON.")), status_for(RuntimeError("bug"))
        (400, 500)
    """
    for cls, status in STATUS:
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
