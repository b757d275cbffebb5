"""Runs and their steps: recorded as they start and end, so a run id resumes where it stopped.

A step that already succeeded for a run id is not run again (idempotent re-runs); a
failed run resumes at the step that failed.

Example:
    >>> RunState.PROMOTED.value, StepState.SUCCEEDED.value
    ('promoted', 'succeeded')
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.retrain.database import reading
from parity.retrain.ledger.tables import runs, steps


class RunState(enum.StrEnum):
    """Where a retraining run is."""

    # Steps are executing (or the process died mid-run; the lock expiry frees the model).
    RUNNING = "running"
    # The candidate won and is production now.
    PROMOTED = "promoted"
    # The pipeline finished but the candidate lost the gate or the shadow check.
    REJECTED = "rejected"
    # A step raised; the champion keeps serving and an alert was recorded.
    FAILED = "failed"


class StepState(enum.StrEnum):
    """Where one step of a run is."""

    # Running now (or its process died; re-running the run id runs it again).
    STARTED = "started"
    # Done; its output is recorded and re-runs reuse it.
    SUCCEEDED = "succeeded"
    # Raised; the error is in its output.
    FAILED = "failed"


@dataclass(frozen=True)
class RunRecord:
    """One retraining run as recorded.

    Example:
        >>> RunRecord("r1", "m", RunState.RUNNING, "manual", None, None, {}).state.value
        'running'
    """

    run_id: str
    model: str
    state: RunState
    trigger: str
    started_at: datetime | None
    finished_at: datetime | None
    details: Mapping[str, Any]


class RunLog:
    """The runs and steps part of the :class:`~parity.retrain.ledger.Ledger`.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> from parity.retrain.ledger import Ledger
        >>> ledger = Ledger(engine, project="fraud")
        >>> from datetime import datetime, timedelta, timezone
        >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> ledger.start_run("m", run_id="r1", trigger="schedule", now=now).run_id
        'r1'
    """

    engine: Engine
    project: str

    def start_run(self, model: str, *, run_id: str, trigger: str, now: datetime) -> RunRecord:
        """Create the run; an existing one resumes (a failed one is set running again)."""
        with self.engine.begin() as conn:
            existing = self._run(conn, run_id)
            if existing is None:
                conn.execute(
                    runs.insert().values(
                        project=self.project,
                        run_id=run_id,
                        model=model,
                        state=RunState.RUNNING,
                        trigger=trigger,
                        started_at=now,
                        details={},
                    )
                )
            elif existing.state is RunState.FAILED:
                # Resuming a failed run: its finished steps are reused, the failed one re-runs.
                conn.execute(
                    runs.update()
                    .where(runs.c.project == self.project, runs.c.run_id == run_id)
                    .values(state=RunState.RUNNING, finished_at=None)
                )
            else:
                return existing  # a running run resumes; a finished one is only reported
        record = self.run(run_id)
        assert record is not None
        return record

    def _run(self, conn: sa.Connection, run_id: str) -> RunRecord | None:
        row = (
            conn.execute(
                sa.select(runs).where(runs.c.project == self.project, runs.c.run_id == run_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return RunRecord(
            row["run_id"],
            row["model"],
            RunState(row["state"]),
            row["trigger"],
            row["started_at"],
            row["finished_at"],
            row["details"],
        )

    def run(self, run_id: str) -> RunRecord | None:
        """The run called ``run_id``, or None."""
        with reading(self.engine) as conn:
            return self._run(conn, run_id)

    def runs(self, model: str) -> list[RunRecord]:
        """Every run of ``model``, oldest first."""
        with reading(self.engine) as conn:
            ids = (
                conn.execute(
                    sa.select(runs.c.run_id)
                    .where(runs.c.project == self.project, runs.c.model == model)
                    .order_by(runs.c.started_at, runs.c.run_id)
                )
                .scalars()
                .all()
            )
            return [r for r in (self._run(conn, i) for i in ids) if r is not None]

    def finish_run(
        self, run_id: str, state: RunState, *, now: datetime, details: Mapping[str, Any]
    ) -> None:
        """Record the run's final state and summary."""
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.project == self.project, runs.c.run_id == run_id)
                .values(state=state, finished_at=now, details=dict(details))
            )

    def step_output(self, run_id: str, step: str) -> dict[str, Any] | None:
        """The recorded output of a step that succeeded for this run, else None."""
        with reading(self.engine) as conn:
            row = conn.execute(
                sa.select(steps.c.output).where(
                    steps.c.project == self.project,
                    steps.c.run_id == run_id,
                    steps.c.step == step,
                    steps.c.state == StepState.SUCCEEDED,
                )
            ).first()
        return None if row is None else dict(row[0])

    def record_step(
        self,
        run_id: str,
        step: str,
        state: StepState,
        *,
        now: datetime,
        output: Mapping[str, Any] | None = None,
    ) -> None:
        """Upsert a step's state (started, then succeeded or failed) with its output."""
        key = (
            (steps.c.project == self.project) & (steps.c.run_id == run_id) & (steps.c.step == step)
        )
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(steps.c.step).where(key)).first()
            values: dict[str, Any] = {"state": state, "output": dict(output or {})}
            if state is StepState.STARTED:
                values |= {"started_at": now, "finished_at": None}
            else:
                values["finished_at"] = now
            if exists is None:
                seq = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(steps)
                    .where(steps.c.project == self.project, steps.c.run_id == run_id)
                ).scalar_one()
                conn.execute(
                    steps.insert().values(
                        project=self.project,
                        run_id=run_id,
                        step=step,
                        seq=seq,
                        started_at=values.pop("started_at", now),
                        **values,
                    )
                )
            else:
                conn.execute(steps.update().where(key).values(**values))

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The steps of a run in the order they started."""
        with reading(self.engine) as conn:
            rows = (
                conn.execute(
                    sa.select(steps)
                    .where(steps.c.project == self.project, steps.c.run_id == run_id)
                    .order_by(steps.c.seq)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]
