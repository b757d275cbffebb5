"""The registry's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Every row carries its project, so one database can hold several repositories.
``parity_projects.generation`` is bumped by every write: it is the row the project lock
takes, and it lets a reader tell that something changed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "parity_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

projects = Table(
    "parity_projects",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

versions = Table(
    "parity_versions",
    metadata,
    Column("project", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("project", "kind", "name", "version"),
)

service_pins = Table(
    "parity_service_pins",
    metadata,
    Column("project", String(128), nullable=False),
    Column("service", String(128), nullable=False),
    Column("service_version", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("view", String(128), nullable=False),
    Column("view_version", Integer, nullable=False),
    Column("feature", String(128), nullable=False),
    Column("output_name", String(300), nullable=False),
    PrimaryKeyConstraint("project", "service", "service_version", "position"),
)

audit_log = Table(
    "parity_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=True),
    Column("change_class", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("context", JSON, nullable=False),
)

sync_runs = Table(
    "parity_sync_runs",
    metadata,
    Column("project", String(128), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("view", String(128), nullable=False),
    Column("view_version", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("watermark", DateTime(timezone=True), nullable=True),
    Column("rows_read", Integer, nullable=False),
    Column("rows_written", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("delay_seconds", Float, nullable=True),
    Column("details", JSON, nullable=False),
    PrimaryKeyConstraint("project", "run_id"),
)

sync_schedules = Table(
    "parity_sync_schedules",
    metadata,
    Column("project", String(128), nullable=False),
    Column("view", String(128), nullable=False),
    Column("view_version", Integer, nullable=False),
    Column("next_due_at", DateTime(timezone=True), nullable=True),
    Column("last_run_at", DateTime(timezone=True), nullable=True),
    Column("missed_refreshes", Integer, nullable=False),
    # The lease: the scheduler copy running this view version now, until when.
    Column("holder", String(256), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("decision", JSON, nullable=False),
    PrimaryKeyConstraint("project", "view", "view_version"),
)
