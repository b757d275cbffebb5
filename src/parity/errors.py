"""Errors raised by parity.

Every error derives from :class:`ParityError`. Two marker classes tell callers whether a
retry can help: :class:`Transient` (a server was unreachable, a lock was held) and
:class:`Terminal` (the input is wrong; retrying changes nothing). Messages say what
failed, the offending value and the fix.

This module is the one home of parity's public errors, whichever layer raises them:
reading (:class:`TransformUnavailable`, :class:`ServingBlocked`), pushing
(:class:`PushSourceNotFound`, :class:`PushIdConflict`), requests (:class:`BadRequest`,
:class:`RequestTooLarge`, :class:`Unauthenticated`, :class:`Forbidden`) and streams
(:class:`BadEvent`, :class:`OfflineAppendStalled`...). It imports nothing of parity, so
any package may raise them. The HTTP status of each class is one table in the server
(``parity.serve.http_errors``); the client maps an answer's ``error.type`` back to the
class by name (:data:`PUBLIC_ERRORS`), without importing any server code.

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


class OnlineStorePartlyUnavailable(OnlineStoreUnavailable):
    """Part of a sharded online store is down: a node, or hash slots no node serves (HTTP 503).

    Example:
        >>> isinstance(OnlineStorePartlyUnavailable("slot 5 has no master"), OnlineStoreUnavailable)
        True
    """


class TransformUnavailable(ParityError, Terminal):
    """The repository has no function with the code a service version was registered with.

    Example:
        >>> isinstance(TransformUnavailable("fraud@v2: 'ratio' changed"), Terminal)
        True
    """


class ServingBlocked(ParityError, Transient):
    """A read needs a view version the consistency policy blocked (HTTP 503).

    Example:
        >>> str(ServingBlocked("user_stats@v1 is blocked")).endswith("blocked")
        True
    """


class ServiceNotServable(ParityError, Terminal):
    """A read through a feature service version that cannot answer (HTTP 503): it is not
    serving, or a view version it pins does not serve (the serving rule,
    :mod:`parity.registry.serving_rule`). The message names the view versions and the fix.

    Example:
        >>> isinstance(ServiceNotServable("fraud@v1 pins user_stats@v1 (pending)"), Terminal)
        True
    """


class PushSourceNotFound(ObjectNotFound):
    """No live feature view reads from a push source of that name.

    Example:
        >>> isinstance(PushSourceNotFound("Unknown push source 'txn'."), KeyError)
        True
    """


class PushIdConflict(ParityError, Terminal, ValueError):
    """A push id was reused for a different push (other rows, source or mode).

    Example:
        >>> isinstance(PushIdConflict("push_id 'p1' was already used"), ValueError)
        True
    """


class BadRequest(ParityError, Terminal, ValueError):
    """The request is not what the endpoint takes (malformed JSON, wrong shape, bad field).

    Example:
        >>> str(BadRequest("/push: no rows given."))
        '/push: no rows given.'
    """


class RequestTooLarge(ParityError, Terminal, ValueError):
    """The request is over ``server.max_request_bytes``, ``max_entities`` or ``max_push_rows``.

    Example:
        >>> isinstance(RequestTooLarge("1001 entities; the limit is 1000"), ValueError)
        True
    """


class Unauthenticated(ParityError, Terminal):
    """No API key, or an unknown one.

    Example:
        >>> str(Unauthenticated("No API key."))
        'No API key.'
    """


class Forbidden(ParityError, Terminal):
    """The API key is valid but lacks the scope the endpoint needs.

    Example:
        >>> str(Forbidden("Key 'ci' lacks scope 'push'."))
        "Key 'ci' lacks scope 'push'."
    """


class BadEvent(ParityError, Terminal, ValueError):
    """A stream message that is not a valid event of the view: it goes to the dead letters.

    Example:
        >>> str(BadEvent("amount is missing or null"))
        'amount is missing or null'
    """


class MessagePositionOutOfRange(ParityError, Terminal, ValueError):
    """A message id that does not map to a 64-bit position (a Redis stream id whose
    sequence part needs more than 20 bits).

    Example:
        >>> isinstance(MessagePositionOutOfRange("1700000000000-2000000"), ValueError)
        True
    """


class SpoolEntryInvalid(ParityError, Terminal, ValueError):
    """A spool entry without a message id per raw event (the appender cannot tell which
    of its events the table holds).

    Example:
        >>> isinstance(SpoolEntryInvalid("entry 3: 2 events, 1 id"), Terminal)
        True
    """


class StreamDependencyDown(ParityError, Transient, ConnectionError):
    """A stream processor's dependency (Redis, the transport) stayed unreachable longer
    than its bound; the error names the first failure.

    Example:
        >>> isinstance(StreamDependencyDown("Redis down for 31 s"), ConnectionError)
        True
    """


class SyncFailed(ParityError, Terminal):
    """A sync run failed on something outside parity (an unreadable source file, a Delta
    commit missing, a full disk): recorded ``failed``, its watermark unmoved.

    Example:
        >>> isinstance(SyncFailed("stats@v1: sync run r1 failed in step 'read_source'"),
        ...            Terminal)
        True
    """


class OfflineAppendStalled(ParityError, Transient, TimeoutError):
    """Checkpointed raw events did not reach the offline store in time (no appender runs,
    or it fails); they wait, safe, in the spool.

    Example:
        >>> isinstance(OfflineAppendStalled("start an appender"), Transient)
        True
    """


class TransformFailed(ParityError, Terminal):
    """A row transform's function raised, or returned something unusable.

    A bug of the definition, not of the request: the feature server answers 500 with
    this message.

    Example:
        >>> isinstance(TransformFailed("amount_vs_mean: division by zero"), Terminal)
        True
    """


class RetrainError(ParityError):
    """Root of the retraining loop's errors.

    Example:
        >>> issubclass(RunLocked, RetrainError)
        True
    """


class RunLocked(RetrainError, Transient):
    """Another run holds the model's lock; retry after it finishes or its lock expires."""


class RetrainBlocked(RetrainError, Terminal):
    """A guard (rate limit or loop breaker) refused to start a run."""


class StepFailed(RetrainError):
    """A pipeline step raised; the run is recorded as failed and alerted."""


class ModelNotFound(RetrainError, ObjectNotFound):
    """No model definition, model version or alias of that name."""


class ModelLoadError(RetrainError, Terminal):
    """A model artifact could not be loaded (missing, corrupt, incompatible)."""


class LabelsMissing(RetrainError, Transient):
    """The label source has no rows yet for the requested window; retry when labels arrive."""


class SourceUnreadable(ParityError, Terminal):
    """A source file or offline table exists but cannot be read: a corrupt Parquet file,
    a Delta log with a missing commit. An operator must repair or restore it; nothing
    was written by the operation that met it.

    Example:
        >>> str(SourceUnreadable("data/txns: commit 3 is missing"))
        'data/txns: commit 3 is missing'
    """


class StorageUnavailable(ParityError, Transient, ConnectionError):
    """Object storage could not be reached (endpoint down, DNS, timeout).

    Example:
        >>> isinstance(StorageUnavailable("s3 endpoint down"), ConnectionError)
        True
    """


class StorageAccessDenied(ParityError, Terminal, PermissionError):
    """Object storage refused the credentials (wrong key, expired token, no permission).

    Example:
        >>> isinstance(StorageAccessDenied("bad key"), PermissionError)
        True
    """


class StorageBucketNotFound(ParityError, Terminal, LookupError):
    """A storage URI names a bucket that does not exist.

    Example:
        >>> isinstance(StorageBucketNotFound("no bucket"), LookupError)
        True
    """


PUBLIC_ERRORS: dict[str, type[ParityError]] = {
    cls.__name__: cls
    for cls in (
        ParityError,
        TransformFailed,
        RetrainError,
        RunLocked,
        RetrainBlocked,
        StepFailed,
        ModelNotFound,
        ModelLoadError,
        LabelsMissing,
        DefinitionError,
        ConfigError,
        RepoImportError,
        RegistryUnreachable,
        ObjectNotFound,
        EntityNotFound,
        FeatureViewNotFound,
        FeatureServiceNotFound,
        ChangeRefused,
        AmbiguousReference,
        InvalidTransition,
        SchemaMismatch,
        NaiveTimestampError,
        OnlineStoreUnavailable,
        OnlineStorePartlyUnavailable,
        TransformUnavailable,
        ServingBlocked,
        ServiceNotServable,
        PushSourceNotFound,
        PushIdConflict,
        BadRequest,
        RequestTooLarge,
        Unauthenticated,
        Forbidden,
        BadEvent,
        MessagePositionOutOfRange,
        SpoolEntryInvalid,
        OfflineAppendStalled,
        SyncFailed,
        StreamDependencyDown,
        SourceUnreadable,
        StorageUnavailable,
        StorageAccessDenied,
        StorageBucketNotFound,
    )
}
"""Every public error class of this module by name: how a client turns the ``type`` of
an HTTP error answer back into the class the server raised."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest choice, or an empty string.

    Example:
        >>> did_you_mean("rediss", ["redis", "sqlite"])
        " Did you mean 'redis'?"
    """
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""
