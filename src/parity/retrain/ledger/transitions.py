"""Registry transitions (promote, rollback) recorded as intents before they are applied.

A registry whose alias moves are several writes (MLflow: one call per alias) records the
aliases it is about to set first; a crash between two writes leaves a ``pending``
transition that the next promote or rollback re-applies to the end. Applying a target is
idempotent, so re-running it is always safe.

Example:
    >>> Transition(1, "m", "promote", TransitionState.PENDING,
    ...            {"champion": 2, "previous": 1}).target["champion"]
    2
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.retrain.database import reading
from parity.retrain.ledger.tables import transitions


class TransitionState(enum.StrEnum):
    """Where a recorded registry transition is."""

    # Recorded, not (or not fully) applied: the next promote/rollback completes it.
    PENDING = "pending"
    # Every alias of the target is set.
    DONE = "done"


@dataclass(frozen=True)
class Transition:
    """An alias move: what kind, and the aliases as they must be once it is done.

    ``target`` maps alias -> version; None means the alias must not exist.

    Example:
        >>> Transition(1, "m", "rollback", TransitionState.DONE, {"champion": 1}).kind
        'rollback'
    """

    id: int
    model: str
    kind: str
    state: TransitionState
    target: Mapping[str, int | None]


class TransitionLog:
    """The transitions part of the :class:`~parity.retrain.ledger.Ledger`.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> from parity.retrain.ledger import Ledger
        >>> ledger = Ledger(engine, project="fraud")
        >>> t = ledger.begin_transition("m", kind="promote",
        ...                             target={"champion": 2})
        >>> t.state
        <TransitionState.PENDING: 'pending'>
        >>> ledger.finish_transition(t.id)
    """

    engine: Engine
    project: str

    def begin_transition(
        self, model: str, *, kind: str, target: Mapping[str, int | None]
    ) -> Transition:
        """Record the intent to move ``model``'s aliases to ``target`` (state pending)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                transitions.insert().values(
                    project=self.project,
                    model=model,
                    kind=kind,
                    state=TransitionState.PENDING,
                    target=dict(target),
                    started_at=datetime.now(UTC),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            new_id = key[0]
        return Transition(int(new_id), model, kind, TransitionState.PENDING, dict(target))

    def finish_transition(self, transition_id: int) -> None:
        """Mark a transition done (every alias of its target is set)."""
        with self.engine.begin() as conn:
            conn.execute(
                transitions.update()
                .where(transitions.c.project == self.project, transitions.c.id == transition_id)
                .values(state=TransitionState.DONE, finished_at=datetime.now(UTC))
            )

    def transitions(self, model: str, *, pending: bool = False) -> list[Transition]:
        """Recorded transitions of ``model``, oldest first (only unfinished ones if asked)."""
        query = (
            sa.select(transitions)
            .where(transitions.c.project == self.project, transitions.c.model == model)
            .order_by(transitions.c.id)
        )
        if pending:
            query = query.where(transitions.c.state == TransitionState.PENDING)
        with reading(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Transition(
                int(r["id"]), r["model"], r["kind"], TransitionState(r["state"]), dict(r["target"])
            )
            for r in rows
        ]
