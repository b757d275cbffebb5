"""The retraining tables, all in the registry database under parity's own ``MetaData``.

One table per concept: runs and their steps, trigger decisions, alerts, per-model locks
and registry transitions (promotions and rollbacks, recorded before they are applied).

Example:
    >>> sorted(metadata.tables)[:2]
    ['retrain_alerts', 'retrain_decisions']
"""

from __future__ import annotations

import sqlalchemy as sa

from parity.retrain.database import UtcDateTime

metadata = sa.MetaData()

runs = sa.Table(
    "retrain_runs",
    metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("trigger", sa.String(40), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
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
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("output", sa.JSON, nullable=False),
)
decisions = sa.Table(
    "retrain_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
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
    sa.Column("at", UtcDateTime, nullable=False),
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
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)
transitions = sa.Table(
    "retrain_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # promote | rollback
    sa.Column("state", sa.String(20), nullable=False),
    # The aliases as they must be when the transition is done: {"champion": 2, ...}.
    sa.Column("target", sa.JSON, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
)
