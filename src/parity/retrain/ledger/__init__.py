"""The retraining ledger: runs and steps, decisions and alerts, locks, registry transitions.

One :class:`Ledger` per project reads and writes the ``retrain_*`` tables of the registry
database; each concept lives in its own module (:mod:`.runs`, :mod:`.journal`,
:mod:`.locks`, :mod:`.transitions`) and the ledger is their union.

Example:
    >>> import tempfile
    >>> from parity.registry.config import SqliteRegistryConfig
    >>> from parity.retrain.database import open_engine
    >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> ledger = Ledger(engine, project="fraud")
    >>> ledger.start_run("fraud_model", run_id="r1", trigger="schedule", now=now).state
    <RunState.RUNNING: 'running'>
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from parity.registry.migrations import upgrade_schema
from parity.retrain.ledger.journal import Journal
from parity.retrain.ledger.locks import ModelLocks
from parity.retrain.ledger.runs import RunLog, RunRecord, RunState, StepState
from parity.retrain.ledger.transitions import Transition, TransitionLog, TransitionState

__all__ = [
    "Ledger",
    "RunRecord",
    "RunState",
    "StepState",
    "Transition",
    "TransitionState",
]


class Ledger(RunLog, Journal, ModelLocks, TransitionLog):
    """Reads and writes the retraining tables of one project (created if missing).

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> Ledger(engine, project="fraud").runs("fraud_model")
        []
    """

    def __init__(self, engine: Engine, *, project: str) -> None:
        self.engine = engine
        self.project = project
        # The registry database's migrations create and upgrade these tables too.
        upgrade_schema(engine)
