"""The retraining ledger: runs, their steps, trigger decisions, alerts and per-model locks.

Every step of every run is recorded as it starts and ends, with its output; a step that
already succeeded for a run id is not run again (idempotent re-runs). Decisions record
the trigger evaluation with its evidence. The lock row per model serialises runs across
processes; it expires, so a crashed run cannot block a model forever.

Example:
    >>> ledger = Ledger(engine, project="fraud")  # doctest: +SKIP
    >>> ledger.start_run("fraud_model", run_id="r1", trigger="schedule", now=now)  # doctest: +SKIP
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.retrain.database import utc
from parity.retrain.errors import RunLocked

metadata = sa.MetaData()

runs = sa.Table(
    "retrain_runs",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("trigger", sa.String(40), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("details", sa.JSON, nullable=False),
)
steps = sa.Table(
    "retrain_steps",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(60), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),  # execution order within the run
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("output", sa.JSON, nullable=False),
)
decisions = sa.Table(
    "retrain_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
)
alerts = sa.Table(
    "retrain_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
)
locks = sa.Table(
    "retrain_locks",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


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


class Ledger:
    """Reads and writes the retraining tables of one project.

    Example:
        >>> Ledger(engine, project="fraud").runs("fraud_model")  # doctest: +SKIP
        []
    """

    def __init__(self, engine: Engine, *, project: str) -> None:
        self.engine = engine
        self.project = project
        with engine.begin() as conn:
            metadata.create_all(conn, checkfirst=True)

    # --- runs and steps ----------------------------------------------------------------

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
            utc(row["started_at"]),
            None if row["finished_at"] is None else utc(row["finished_at"]),
            row["details"],
        )

    def run(self, run_id: str) -> RunRecord | None:
        """The run called ``run_id``, or None."""
        with self.engine.connect() as conn:
            return self._run(conn, run_id)

    def runs(self, model: str) -> list[RunRecord]:
        """Every run of ``model``, oldest first."""
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
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

    # --- decisions and alerts ------------------------------------------------------------

    def record_decision(
        self,
        model: str,
        *,
        action: str,
        reasons: list[str],
        evidence: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Store one trigger evaluation with its evidence."""
        with self.engine.begin() as conn:
            conn.execute(
                decisions.insert().values(
                    project=self.project,
                    model=model,
                    at=now,
                    action=action,
                    reasons=reasons,
                    evidence=dict(evidence),
                )
            )

    def decisions(self, model: str) -> list[dict[str, Any]]:
        """Every recorded decision for ``model``, oldest first."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(decisions)
                    .where(decisions.c.project == self.project, decisions.c.model == model)
                    .order_by(decisions.c.id)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def record_alert(
        self,
        model: str,
        *,
        severity: str,
        message: str,
        evidence: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Store one alert."""
        with self.engine.begin() as conn:
            conn.execute(
                alerts.insert().values(
                    project=self.project,
                    model=model,
                    at=now,
                    severity=severity,
                    message=message,
                    evidence=dict(evidence),
                )
            )

    def alerts(self, model: str | None = None) -> list[dict[str, Any]]:
        """Recorded alerts, oldest first."""
        query = sa.select(alerts).where(alerts.c.project == self.project).order_by(alerts.c.id)
        if model is not None:
            query = query.where(alerts.c.model == model)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    # --- locks -----------------------------------------------------------------------------

    def acquire_lock(self, model: str, *, run_id: str, now: datetime, ttl: timedelta) -> None:
        """Take the model's lock for ``run_id`` (re-entrant); raise :class:`RunLocked` if held."""
        key = (locks.c.project == self.project) & (locks.c.model == model)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(locks).where(key).with_for_update()).mappings().first()
                if row is None:
                    conn.execute(
                        locks.insert().values(
                            project=self.project,
                            model=model,
                            run_id=run_id,
                            acquired_at=now,
                            expires_at=now + ttl,
                        )
                    )
                    return
                if row["run_id"] != run_id and utc(row["expires_at"]) > now:
                    raise RunLocked(
                        f"Model {model!r} is locked by run {row['run_id']!r} until "
                        f"{utc(row['expires_at']).isoformat()}. Wait for it to finish, or "
                        f"'parity retrain unlock {model}' if that run is dead."
                    )
                conn.execute(
                    locks.update()
                    .where(key)
                    .values(run_id=run_id, acquired_at=now, expires_at=now + ttl)
                )
        except sa.exc.OperationalError as exc:
            # SQLite's busy timeout: another process holds the database's write lock.
            raise RunLocked(
                f"The registry database is locked; model {model!r} could not be locked for run "
                f"{run_id!r} ({exc.orig}). Retry shortly."
            ) from exc

    def release_lock(self, model: str, *, run_id: str | None = None) -> bool:
        """Release the lock (only if ``run_id`` holds it, when given); True if released."""
        query = locks.delete().where(locks.c.project == self.project, locks.c.model == model)
        if run_id is not None:
            query = query.where(locks.c.run_id == run_id)
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)
