"""Baseline: the registry database as the previous release (3ca94c0) created it.

Creates each table that is missing, so it also completes a database that an older parity
created with ``create_all`` (where the retraining tables appear only once retraining
ran). Frozen: later schema changes are new revisions, never edits here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    bind = op.get_bind()
    schema = bind.get_execution_options().get("schema_translate_map", {}).get(None)
    return not sa.inspect(bind).has_table(name, schema=schema)


def upgrade() -> None:
    if _missing("model_aliases"):
        op.create_table(
            "model_aliases",
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("alias", sa.String(length=60), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("project", "name", "alias"),
        )
    if _missing("model_versions"):
        op.create_table(
            "model_versions",
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.String(length=200), nullable=False),
            sa.Column(
                "created_at",
                sa.DateTime(timezone=True),
                server_default=sa.func.now(),
                nullable=False,
            ),
            sa.Column("artifact_path", sa.Text(), nullable=False),
            sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
            sa.Column("lineage", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("project", "name", "version"),
        )
    if _missing("parity_audit_log"):
        op.create_table(
            "parity_audit_log",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("project", sa.String(length=128), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(length=256), nullable=False),
            sa.Column("action", sa.String(length=32), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=128), nullable=False),
            sa.Column("version", sa.Integer(), nullable=True),
            sa.Column("change_class", sa.String(length=16), nullable=False),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("details", sa.JSON(), nullable=False),
            sa.Column("context", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_parity_audit_log_project"), "parity_audit_log", ["project"], unique=False
        )
    if _missing("parity_meta"):
        op.create_table(
            "parity_meta",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("value", sa.String(length=256), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
    if _missing("parity_projects"):
        op.create_table(
            "parity_projects",
            sa.Column("name", sa.String(length=128), nullable=False),
            sa.Column("generation", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    if _missing("parity_service_pins"):
        op.create_table(
            "parity_service_pins",
            sa.Column("project", sa.String(length=128), nullable=False),
            sa.Column("service", sa.String(length=128), nullable=False),
            sa.Column("service_version", sa.Integer(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("view", sa.String(length=128), nullable=False),
            sa.Column("view_version", sa.Integer(), nullable=False),
            sa.Column("feature", sa.String(length=128), nullable=False),
            sa.Column("output_name", sa.String(length=300), nullable=False),
            sa.PrimaryKeyConstraint("project", "service", "service_version", "position"),
        )
    if _missing("parity_sync_runs"):
        op.create_table(
            "parity_sync_runs",
            sa.Column("project", sa.String(length=128), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("view", sa.String(length=128), nullable=False),
            sa.Column("view_version", sa.Integer(), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("outcome", sa.String(length=32), nullable=False),
            sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
            sa.Column("rows_read", sa.Integer(), nullable=False),
            sa.Column("rows_written", sa.Integer(), nullable=False),
            sa.Column("rows_rejected", sa.Integer(), nullable=False),
            sa.Column("delay_seconds", sa.Float(), nullable=True),
            sa.Column("details", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("project", "run_id"),
        )
    if _missing("parity_versions"):
        op.create_table(
            "parity_versions",
            sa.Column("project", sa.String(length=128), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=128), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("state", sa.String(length=16), nullable=False),
            sa.Column("spec", sa.JSON(), nullable=False),
            sa.Column("fingerprint", sa.String(length=64), nullable=False),
            sa.Column("revision", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("project", "kind", "name", "version"),
        )
    if _missing("retrain_alerts"):
        op.create_table(
            "retrain_alerts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("evidence", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_retrain_alerts_model"), "retrain_alerts", ["model"], unique=False)
    if _missing("retrain_decisions"):
        op.create_table(
            "retrain_decisions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("action", sa.String(length=20), nullable=False),
            sa.Column("reasons", sa.JSON(), nullable=False),
            sa.Column("evidence", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_retrain_decisions_model"), "retrain_decisions", ["model"], unique=False
        )
    if _missing("retrain_locks"):
        op.create_table(
            "retrain_locks",
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("run_id", sa.String(length=200), nullable=False),
            sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("project", "model"),
        )
    if _missing("retrain_runs"):
        op.create_table(
            "retrain_runs",
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("run_id", sa.String(length=200), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("state", sa.String(length=20), nullable=False),
            sa.Column("trigger", sa.String(length=40), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("details", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("project", "run_id"),
        )
        op.create_index(op.f("ix_retrain_runs_model"), "retrain_runs", ["model"], unique=False)
    if _missing("retrain_steps"):
        op.create_table(
            "retrain_steps",
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("run_id", sa.String(length=200), nullable=False),
            sa.Column("step", sa.String(length=60), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("state", sa.String(length=20), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("output", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("project", "run_id", "step"),
        )
    if _missing("retrain_transitions"):
        op.create_table(
            "retrain_transitions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("project", sa.String(length=200), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("state", sa.String(length=20), nullable=False),
            sa.Column("target", sa.JSON(), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_retrain_transitions_model"), "retrain_transitions", ["model"], unique=False
        )


def downgrade() -> None:
    raise NotImplementedError("parity does not downgrade the registry; restore a backup")
