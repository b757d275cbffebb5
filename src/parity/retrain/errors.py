"""Errors of the retraining loop (subclasses of :class:`parity.errors.ParityError`).

Example:
    >>> issubclass(RunLocked, ParityError)
    True
"""

from __future__ import annotations

from parity.errors import ObjectNotFound, ParityError, Terminal, Transient


class RetrainError(ParityError):
    """Root of the retraining errors."""


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
