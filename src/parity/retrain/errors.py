"""Errors of the retraining loop, defined with every public error in :mod:`parity.errors`
and named here too, beside the loop that raises them.

Example:
    >>> from parity.errors import ParityError
    >>> issubclass(RunLocked, ParityError)
    True
"""

from __future__ import annotations

from parity.errors import (
    LabelsMissing,
    ModelLoadError,
    ModelNotFound,
    RetrainBlocked,
    RetrainError,
    RunLocked,
    StepFailed,
)

__all__ = [
    "LabelsMissing",
    "ModelLoadError",
    "ModelNotFound",
    "RetrainBlocked",
    "RetrainError",
    "RunLocked",
    "StepFailed",
]
