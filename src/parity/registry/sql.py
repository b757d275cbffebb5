"""The registry on SQLAlchemy Core: a SQLite file by default, PostgreSQL in production.

Both databases run the same statements. Writes take a per-project lock first (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: ``SELECT ... FOR UPDATE`` on the project row), then read
the current state, plan, and write, all in one transaction: a failing apply changes
nothing, and two concurrent applies are serialised instead of losing an update.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

import parity.registry.tables as t
from parity.definitions import RepoContents
from parity.errors import (
    ChangeRefused,
    FeatureServiceNotFound,
    FeatureViewNotFound,
    InvalidTransition,
    ObjectNotFound,
    RegistryUnreachable,
    did_you_mean,
)
from parity.registry import schedule_sql
from parity.registry.base import (
    TRANSITIONS,
    Actor,
    AuditEntry,
    ObjectKind,
    Registry,
    RegistrySnapshot,
    ServicePin,
    SyncRecord,
    SyncSchedule,
    VersionRecord,
    VersionState,
)
from parity.registry.classify import ChangeClass
from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
from parity.registry.migrations import SchemaUpgrade, upgrade_schema
from parity.registry.plan import Change, Plan, plan_apply, plan_repin, spec_fingerprint
from parity.registry.serving_rule import refuse_breaking_move

_READ_ONLY = "parity_read_only"


def _utc(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything parity stores is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_engine(path: Path, *, busy_timeout_s: float = 5.0) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": busy_timeout_s})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below be the only transaction control (pysqlite recipe).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")  # deferred: WAL readers never wait for a writer
        else:
            # IMMEDIATE takes the write lock up front: an apply's read-plan-write is atomic.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def postgres_connect_args(config: PostgresRegistryConfig) -> dict[str, Any]:
    """libpq options bounding every wait: connect, each statement, a dead TCP peer.

    ``statement_timeout`` is enforced by the server (a locked table); keepalives and
    ``tcp_user_timeout`` end a connection whose peer vanished. A path that still accepts
    bytes but never answers (a frozen proxy) is bounded by the caller's own wait instead.

    Example:
        >>> args = postgres_connect_args(PostgresRegistryConfig(url="postgresql://h/db"))
        >>> args["connect_timeout"], args["options"]
        (5, '-c statement_timeout=30000')
    """
    return {
        "connect_timeout": max(1, round(config.connect_timeout_s)),
        "options": f"-c statement_timeout={int(config.write_timeout_s * 1000)}",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": int((config.connect_timeout_s + config.write_timeout_s) * 1000),
    }


def _postgres_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class SqlRegistry(Registry):
    """Registry on a SQLAlchemy engine (SQLite or PostgreSQL).

    Example:
        >>> import tempfile
        >>> config = SqliteRegistryConfig(path="data/registry.db")
        >>> registry = SqlRegistry.open(config, repo_root=tempfile.mkdtemp())
        >>> registry.snapshot("fraud").versions
        {}
    """

    def __init__(
        self,
        engine: Engine,
        *,
        display_url: str,
        schema: str | None = None,
        read_timeout_s: float | None = None,
    ) -> None:
        self._engine = (
            engine.execution_options(schema_translate_map={None: schema}) if schema else engine
        )
        self._display_url = display_url
        self._is_postgres = engine.dialect.name == "postgresql"
        # statement_timeout of snapshot reads (PostgreSQL; SQLite bounds them by its busy
        # timeout): serving refreshes its plans from them.
        self._read_timeout_ms = None if read_timeout_s is None else int(read_timeout_s * 1000)
        self._create_tables()

    @classmethod
    def open(
        cls, config: SqliteRegistryConfig | PostgresRegistryConfig, *, repo_root: str | Path
    ) -> SqlRegistry:
        """Build the registry from its typed config; relative SQLite paths are under the repo."""
        if isinstance(config, SqliteRegistryConfig):
            path = Path(config.path)
            if not path.is_absolute():
                path = Path(repo_root) / path
            return cls(
                _sqlite_engine(path, busy_timeout_s=config.query_timeout_s),
                display_url=f"sqlite:///{path}",
            )
        url = _postgres_url(config.url)
        engine = sa.create_engine(
            url, pool_pre_ping=True, connect_args=postgres_connect_args(config)
        )
        return cls(
            engine,
            display_url=url.render_as_string(hide_password=True),
            schema=config.db_schema,
            read_timeout_s=config.query_timeout_s,
        )

    # --- connections and locks ---------------------------------------------------------

    @contextmanager
    def _transaction(self, *, read_only: bool = False) -> Iterator[Connection]:
        engine = self._engine.execution_options(**{_READ_ONLY: True}) if read_only else self._engine
        try:
            conn_cm = engine.begin()
            conn = conn_cm.__enter__()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise RegistryUnreachable(
                f"Cannot reach the registry at {self._display_url}: "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}. Check that the "
                "database server is running and that 'registry' in parity.yaml (or "
                "PARITY__REGISTRY__URL) points at it."
            ) from exc
        try:
            yield conn
        except BaseException as exc:
            conn_cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            conn_cm.__exit__(None, None, None)

    def _create_tables(self) -> None:
        # Alembic brings the schema to head under a lock; a current schema is only read.
        try:
            self.schema_upgrade: SchemaUpgrade = upgrade_schema(self._engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise RegistryUnreachable(
                f"Cannot reach the registry at {self._display_url}: "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}. Check that the "
                "database server is running and that 'registry' in parity.yaml (or "
                "PARITY__REGISTRY__URL) points at it."
            ) from exc
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
            ).first()
            if row is None:
                # Several processes may open a fresh registry at once: the first row wins.
                insert = (postgresql.insert if self._is_postgres else sqlite.insert)(t.meta)
                conn.execute(
                    insert.values(
                        key="schema_version", value=str(t.SCHEMA_VERSION)
                    ).on_conflict_do_nothing(index_elements=["key"])
                )

    def _lock_project(self, conn: Connection, project: str) -> int:
        insert = (postgresql.insert if self._is_postgres else sqlite.insert)(t.projects)
        conn.execute(
            insert.values(name=project, generation=0, created_at=_now()).on_conflict_do_nothing(
                index_elements=["name"]
            )
        )
        query = sa.select(t.projects.c.generation).where(t.projects.c.name == project)
        if self._is_postgres:
            query = query.with_for_update()
        return int(conn.execute(query).scalar_one())

    def _bump(self, conn: Connection, project: str) -> None:
        conn.execute(
            t.projects.update()
            .where(t.projects.c.name == project)
            .values(generation=t.projects.c.generation + 1)
        )

    # --- reads ---------------------------------------------------------------------------

    def _read_snapshot(self, conn: Connection, project: str, generation: int) -> RegistrySnapshot:
        versions: dict[tuple[ObjectKind, str], list[VersionRecord]] = {}
        rows = conn.execute(
            sa.select(t.versions)
            .where(t.versions.c.project == project)
            .order_by(t.versions.c.kind, t.versions.c.name, t.versions.c.version)
        )
        for row in rows.mappings():
            record = VersionRecord(
                kind=ObjectKind(row["kind"]),
                name=row["name"],
                version=row["version"],
                state=VersionState(row["state"]),
                spec=row["spec"],
                fingerprint=row["fingerprint"],
                revision=row["revision"],
                created_at=_utc(row["created_at"]),
                updated_at=_utc(row["updated_at"]),
            )
            versions.setdefault((record.kind, record.name), []).append(record)
        pins: dict[tuple[str, int], list[ServicePin]] = {}
        rows = conn.execute(
            sa.select(t.service_pins)
            .where(t.service_pins.c.project == project)
            .order_by(
                t.service_pins.c.service,
                t.service_pins.c.service_version,
                t.service_pins.c.position,
            )
        )
        for row in rows.mappings():
            pins.setdefault((row["service"], row["service_version"]), []).append(
                ServicePin(
                    row["position"],
                    row["view"],
                    row["view_version"],
                    row["feature"],
                    row["output_name"],
                )
            )
        return RegistrySnapshot(project, generation, versions, pins)

    def generation(self, project: str) -> int:
        """The project's write counter (0 before the first write)."""
        with self._transaction() as conn:
            generation = conn.execute(
                sa.select(t.projects.c.generation).where(t.projects.c.name == project)
            ).scalar()
            return int(generation or 0)

    def snapshot(self, project: str) -> RegistrySnapshot:
        try:
            with self._transaction(read_only=True) as conn:
                if self._is_postgres and self._read_timeout_ms is not None:
                    conn.execute(sa.text(f"SET LOCAL statement_timeout = {self._read_timeout_ms}"))
                generation = conn.execute(
                    sa.select(t.projects.c.generation).where(t.projects.c.name == project)
                ).scalar()
                return self._read_snapshot(conn, project, int(generation or 0))
        except sa.exc.OperationalError as exc:
            # A statement timeout, a lock wait, a connection lost mid-read.
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise RegistryUnreachable(
                f"The registry at {self._display_url} did not answer a snapshot read of "
                f"project {project!r}: {first}. Check for long transactions or table locks "
                "on the registry database and its network path; registry.query_timeout_s "
                "bounds this read."
            ) from exc

    # --- writes --------------------------------------------------------------------------

    def _write_change(self, conn: Connection, project: str, change: Change, now: datetime) -> None:
        fp = spec_fingerprint(change.spec)
        if change.creates_version:
            assert change.state is not None and change.to_version is not None
            conn.execute(
                t.versions.insert().values(
                    project=project,
                    kind=change.kind.value,
                    name=change.name,
                    version=change.to_version,
                    state=change.state.value,
                    spec=dict(change.spec),
                    fingerprint=fp,
                    revision=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            if change.pins:
                conn.execute(
                    t.service_pins.insert(),
                    [
                        {
                            "project": project,
                            "service": change.name,
                            "service_version": change.to_version,
                            "position": p.position,
                            "view": p.view,
                            "view_version": p.view_version,
                            "feature": p.feature,
                            "output_name": p.output_name,
                        }
                        for p in change.pins
                    ],
                )
        elif change.updates_in_place:
            conn.execute(
                t.versions.update()
                .where(
                    (t.versions.c.project == project)
                    & (t.versions.c.kind == change.kind.value)
                    & (t.versions.c.name == change.name)
                    & (t.versions.c.version == change.to_version)
                )
                .values(
                    spec=dict(change.spec),
                    fingerprint=fp,
                    revision=t.versions.c.revision + 1,
                    updated_at=now,
                )
            )

    def _audit(
        self,
        conn: Connection,
        project: str,
        entries: Sequence[Mapping[str, Any]],
        actor: Actor,
        message: str,
        now: datetime,
    ) -> None:
        if entries:
            conn.execute(
                t.audit_log.insert(),
                [
                    {
                        "project": project,
                        "at": now,
                        "actor": actor.name,
                        "message": message,
                        "context": dict(actor.context),
                        **entry,
                    }
                    for entry in entries
                ],
            )

    def _write_plan(
        self, conn: Connection, plan: Plan, actor: Actor, message: str, action: str
    ) -> None:
        now = _now()
        effective = plan.effective
        for change in effective:
            self._write_change(conn, plan.project, change, now)
        self._audit(
            conn,
            plan.project,
            [
                {
                    "action": action,
                    "kind": c.kind.value,
                    "name": c.name,
                    "version": c.to_version,
                    "change_class": c.change_class.value,
                    "summary": c.summary(),
                    "details": c.to_dict(),
                }
                for c in effective
            ],
            actor,
            message,
            now,
        )
        if effective:
            self._bump(conn, plan.project)

    def apply(
        self,
        project: str,
        repo: RepoContents,
        *,
        actor: Actor,
        message: str,
    ) -> Plan:
        with self._transaction() as conn:
            generation = self._lock_project(conn, project)
            plan = plan_apply(self._read_snapshot(conn, project, generation), repo)
            if plan.refused:
                reasons = "; ".join(
                    f"{c.kind.label} {c.name!r}: {d.reason}"
                    for c in plan.refused
                    for d in c.differences
                    if d.change_class is ChangeClass.REFUSED
                )
                raise ChangeRefused(f"Apply refused, nothing was written. {reasons}.")
            self._write_plan(conn, plan, actor, message, "apply")
            return plan

    def repin(self, project: str, service: str, *, actor: Actor, message: str) -> Plan:
        with self._transaction() as conn:
            generation = self._lock_project(conn, project)
            plan = plan_repin(self._read_snapshot(conn, project, generation), service)
            self._write_plan(conn, plan, actor, message, "repin")
            return plan

    def transition(
        self,
        project: str,
        kind: ObjectKind,
        name: str,
        version: int,
        target: VersionState,
        *,
        actor: Actor,
        message: str,
    ) -> VersionRecord:
        with self._transaction() as conn:
            generation = self._lock_project(conn, project)
            snap = self._read_snapshot(conn, project, generation)
            record = snap.get(kind, name, version)
            if record is None:
                known = ", ".join(r.ref for r in snap.history_of(kind, name))
                error = (
                    FeatureServiceNotFound
                    if kind is ObjectKind.FEATURE_SERVICE
                    else (
                        FeatureViewNotFound if kind is ObjectKind.FEATURE_VIEW else ObjectNotFound
                    )
                )
                hint = (
                    f" Known versions: {known}." if known else did_you_mean(name, snap.names(kind))
                )
                raise error(f"No {kind.label} {name}@v{version}.{hint}")
            if target not in TRANSITIONS[record.state]:
                allowed = ", ".join(sorted(s.value for s in TRANSITIONS[record.state])) or "none"
                raise InvalidTransition(
                    f"{kind.label} {record.ref} is {record.state.value}; it cannot become "
                    f"{target.value}. Allowed from {record.state.value}: {allowed}."
                )
            if kind is ObjectKind.FEATURE_VIEW and target is VersionState.RETIRED:
                self._refuse_retiring_pinned(snap, name, version)
            # Inside the transaction, so two concurrent moves cannot both pass the check.
            refuse_breaking_move(snap, record, target)
            now = _now()
            conn.execute(
                t.versions.update()
                .where(
                    (t.versions.c.project == project)
                    & (t.versions.c.kind == kind.value)
                    & (t.versions.c.name == name)
                    & (t.versions.c.version == version)
                )
                .values(state=target.value, updated_at=now)
            )
            self._audit(
                conn,
                project,
                [
                    {
                        "action": target.value,
                        "kind": kind.value,
                        "name": name,
                        "version": version,
                        "change_class": "lifecycle",
                        "summary": f"{record.ref}: {record.state.value} -> {target.value}",
                        "details": {"from": record.state.value, "to": target.value},
                    }
                ],
                actor,
                message,
                now,
            )
            self._bump(conn, project)
            return VersionRecord(
                kind,
                name,
                version,
                target,
                record.spec,
                record.fingerprint,
                record.revision,
                record.created_at,
                now,
            )

    @staticmethod
    def _refuse_retiring_pinned(snap: RegistrySnapshot, view: str, version: int) -> None:
        users = []
        for (service, service_version), pins in snap.pins.items():
            record = snap.get(ObjectKind.FEATURE_SERVICE, service, service_version)
            live = record is not None and record.state in (
                VersionState.SERVING,
                VersionState.PENDING,
            )
            if live and any(p.view == view and p.view_version == version for p in pins):
                users.append(f"{service}@v{service_version}")
        if users:
            raise InvalidTransition(
                f"Cannot retire {view}@v{version}: live service versions pin it "
                f"({', '.join(sorted(users))}). Repin them ('parity repin SERVICE') or "
                "deprecate those service versions first."
            )

    # --- audit and sync records ------------------------------------------------------------

    def history(
        self, project: str, name: str | None = None, *, limit: int = 200
    ) -> list[AuditEntry]:
        query = sa.select(t.audit_log).where(t.audit_log.c.project == project)
        if name is not None:
            query = query.where(t.audit_log.c.name == name)
        query = query.order_by(t.audit_log.c.id.desc()).limit(limit)
        with self._transaction() as conn:
            return [
                AuditEntry(
                    id=row["id"],
                    at=_utc(row["at"]),
                    actor=row["actor"],
                    action=row["action"],
                    kind=ObjectKind(row["kind"]),
                    name=row["name"],
                    version=row["version"],
                    change_class=row["change_class"],
                    summary=row["summary"],
                    message=row["message"],
                    context=row["context"],
                )
                for row in conn.execute(query).mappings()
            ]

    def record_sync(self, project: str, record: SyncRecord) -> None:
        values = {
            "view": record.view,
            "view_version": record.view_version,
            "started_at": record.started_at,
            "finished_at": record.finished_at,
            "outcome": record.outcome,
            "watermark": record.watermark,
            "rows_read": record.rows_read,
            "rows_written": record.rows_written,
            "rows_rejected": record.rows_rejected,
            "delay_seconds": record.delay_seconds,
            "details": dict(record.details),
        }
        key = (t.sync_runs.c.project == project) & (t.sync_runs.c.run_id == record.run_id)
        with self._transaction() as conn:
            updated = conn.execute(t.sync_runs.update().where(key).values(**values)).rowcount
            if not updated:
                conn.execute(
                    t.sync_runs.insert().values(project=project, run_id=record.run_id, **values)
                )

    def sync_records(
        self, project: str, view: str, view_version: int | None = None, *, limit: int = 100
    ) -> list[SyncRecord]:
        query = sa.select(t.sync_runs).where(
            (t.sync_runs.c.project == project) & (t.sync_runs.c.view == view)
        )
        if view_version is not None:
            query = query.where(t.sync_runs.c.view_version == view_version)
        query = query.order_by(t.sync_runs.c.started_at.desc()).limit(limit)
        with self._transaction() as conn:
            return [
                SyncRecord(
                    run_id=row["run_id"],
                    view=row["view"],
                    view_version=row["view_version"],
                    started_at=_utc(row["started_at"]),
                    finished_at=_utc_or_none(row["finished_at"]),
                    outcome=row["outcome"],
                    watermark=_utc_or_none(row["watermark"]),
                    rows_read=row["rows_read"],
                    rows_written=row["rows_written"],
                    rows_rejected=row["rows_rejected"],
                    delay_seconds=row["delay_seconds"],
                    details=row["details"],
                )
                for row in conn.execute(query).mappings()
            ]

    # --- the sync scheduler's schedules and leases (registry/schedule_sql.py) --------------

    def claim_sync(
        self, project: str, view: str, version: int, *, holder: str, now: datetime, lease: float
    ) -> SyncSchedule | None:
        until = now + timedelta(seconds=lease)
        with self._transaction() as conn:
            return schedule_sql.claim(
                conn,
                project,
                view,
                version,
                holder=holder,
                now=now,
                lease_until=until,
                is_postgres=self._is_postgres,
            )

    def renew_sync(
        self, project: str, view: str, version: int, *, holder: str, until: datetime
    ) -> bool:
        with self._transaction() as conn:
            return schedule_sql.renew(conn, project, view, version, holder=holder, until=until)

    def release_sync(self, project: str, schedule: SyncSchedule, *, holder: str) -> bool:
        with self._transaction() as conn:
            return schedule_sql.release(conn, project, schedule, holder=holder)

    def sync_schedules(self, project: str) -> list[SyncSchedule]:
        with self._transaction() as conn:
            return schedule_sql.read_all(conn, project)

    def close(self) -> None:
        self._engine.dispose()


def project_lock_key(project: str) -> int:
    """A stable 32-bit key for a project (for advisory locks in tools that need one)."""
    return zlib.crc32(project.encode("utf-8"))
