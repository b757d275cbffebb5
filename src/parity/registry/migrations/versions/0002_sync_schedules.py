"""Sync schedules: one row per view version the scheduler refreshes (its lease, next run).

Created only if missing: a registry opened by a parity between the table's introduction
and this revision already has it (``create_all`` made it then).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    schema = bind.get_execution_options().get("schema_translate_map", {}).get(None)
    if sa.inspect(bind).has_table("parity_sync_schedules", schema=schema):
        return
    op.create_table(
        "parity_sync_schedules",
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("view", sa.String(length=128), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_refreshes", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("project", "view", "view_version"),
    )


def downgrade() -> None:
    raise NotImplementedError("parity does not downgrade the registry; restore a backup")
