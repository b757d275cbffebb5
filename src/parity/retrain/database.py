"""The retraining tables' engine: the same database as the registry, parity's own MetaData.

Retraining records (runs, steps, decisions, alerts, locks) and the built-in model
registry live in the registry database, beside the definitions they refer to, in tables
of their own (prefixed ``retrain_``/``model_``) so the registry's schema is untouched.

Example:
    >>> from parity.registry.config import SqliteRegistryConfig
    >>> import tempfile
    >>> engine = open_engine(SqliteRegistryConfig(path="data/registry.db"),
    ...                      repo_root=tempfile.mkdtemp())
    >>> engine.dialect.name
    'sqlite'
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
from parity.registry.migrations import READ_ONLY_OPTION
from parity.registry.sql import postgres_connect_args

_READ_ONLY = READ_ONLY_OPTION


def open_engine(
    config: SqliteRegistryConfig | PostgresRegistryConfig, *, repo_root: str | Path
) -> Engine:
    """An engine on the registry database named by ``config``.

    SQLite runs in WAL mode with a short busy timeout: a held lock surfaces as an error
    the caller records, instead of a long silent wait. Write transactions take the write
    lock up front; connections from :func:`reading` do not, so reads (the serving path's
    alias lookups among them) never wait for a writer.
    """
    if isinstance(config, SqliteRegistryConfig):
        path = Path(config.path)
        path = path if path.is_absolute() else Path(repo_root) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            f"sqlite:///{path}", connect_args={"timeout": config.query_timeout_s}
        )

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            if conn.get_execution_options().get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")  # deferred: WAL readers never block
            else:
                # Take the write lock up front so read-then-write steps are atomic.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    url = sa.make_url(config.url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=postgres_connect_args(config))
    if config.db_schema:
        engine = engine.execution_options(schema_translate_map={None: config.db_schema})
    return engine


def reading(engine: Engine) -> sa.Connection:
    """A connection for reads only (use it as a context manager).

    On SQLite its transaction is deferred, so it reads while another process writes.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> with reading(engine) as conn:
        ...     conn.execute(sa.text("SELECT 1")).scalar()
        1
    """
    return engine.connect().execution_options(**{_READ_ONLY: True})


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A time column that stores UTC and always reads back an aware UTC datetime.

    SQLite keeps no time zone (it would give naive times) and PostgreSQL answers in the
    session's zone; this type makes both give the same instant in UTC, on every read.

    Example:
        >>> UtcDateTime().process_result_value(datetime(2026, 1, 1), None).tzinfo
        datetime.timezone.utc
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)


def utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored here is UTC.

    Example:
        >>> utc(datetime(2026, 1, 1)).tzinfo
        datetime.timezone.utc
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
