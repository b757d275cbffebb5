"""Schema migrations of the registry database (Alembic), applied on open under a lock.

The registry database holds the registry's tables, the retraining ledger and the
built-in model registry; one Alembic history (``versions/``) covers all of them, recorded
in ``parity_schema_version``. Opening a registry (or the retraining tables) checks the
revision with a read; only when it is behind does it take the lock (PostgreSQL: an
advisory transaction lock; SQLite: ``BEGIN IMMEDIATE``), check again and upgrade inside
that one transaction. Several processes starting together upgrade once; a server that
finds the schema current never takes a write lock. ``parity registry upgrade`` does the
same explicitly and reports the revisions.

A database created before migrations existed (by ``create_all``, up to commit 3ca94c0)
has tables but no revision: the baseline creates only the tables it lacks, so upgrading
it keeps every row.

Example:
    >>> import sqlalchemy as sa, tempfile
    >>> engine = sa.create_engine(f"sqlite:///{tempfile.mkdtemp()}/registry.db")
    >>> upgrade_schema(engine).to_revision == HEAD
    True
    >>> schema_revision(engine) == HEAD
    True
    >>> engine.dispose()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = ["HEAD", "READ_ONLY_OPTION", "SchemaUpgrade", "schema_revision", "upgrade_schema"]

_HERE = Path(__file__).parent
_VERSION_TABLE = "parity_schema_version"
_LOCK_KEY = 0x70617269  # "pari": the same advisory key as the registry's first creation
#: Execution option of a connection that only reads: an engine whose SQLite transactions
#: begin IMMEDIATE (the retraining engine) begins a deferred one, so the check never waits.
READ_ONLY_OPTION = "parity_read_only"


def _script_directory() -> object:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    return ScriptDirectory.from_config(config)


def _head() -> str:
    from alembic.script import ScriptDirectory

    script = _script_directory()
    assert isinstance(script, ScriptDirectory)
    head = script.get_current_head()
    assert head is not None
    return head


#: The newest revision this parity knows.
HEAD = _head()


@dataclass(frozen=True)
class SchemaUpgrade:
    """What an upgrade did: the revision before (None: no revision recorded) and after.

    Example:
        >>> SchemaUpgrade(None, "0001").changed
        True
    """

    from_revision: str | None
    to_revision: str

    @property
    def changed(self) -> bool:
        """True if the upgrade moved the schema.

        Example:
            >>> SchemaUpgrade("0001", "0001").changed
            False
        """
        return self.from_revision != self.to_revision


def _schema(engine: Engine | Connection) -> str | None:
    translate = engine.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    return None if schema is None else str(schema)


def _current(conn: Connection, schema: str | None) -> str | None:
    if not sa.inspect(conn).has_table(_VERSION_TABLE, schema=schema):
        return None
    table = sa.table(_VERSION_TABLE, sa.column("version_num"), schema=schema)
    return conn.execute(sa.select(table.c.version_num)).scalar()


def schema_revision(engine: Engine) -> str | None:
    """The revision recorded in the database (None before any migration ran).

    Example:
        >>> import sqlalchemy as sa
        >>> engine = sa.create_engine("sqlite://")
        >>> schema_revision(engine) is None
        True
        >>> engine.dispose()
    """
    with engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as conn:
        return _current(conn, _schema(engine))


def upgrade_schema(engine: Engine) -> SchemaUpgrade:
    """Bring the database to :data:`HEAD` under a lock; a current schema is only read.

    The schema of a PostgreSQL registry comes from the engine's ``schema_translate_map``
    (as :class:`~parity.registry.sql.SqlRegistry` sets it).

    Example:
        >>> import sqlalchemy as sa, tempfile
        >>> engine = sa.create_engine(f"sqlite:///{tempfile.mkdtemp()}/r.db")
        >>> upgrade_schema(engine).changed, upgrade_schema(engine).changed
        (True, False)
        >>> engine.dispose()
    """
    schema = _schema(engine)
    before = schema_revision(engine)
    if before == HEAD:
        return SchemaUpgrade(before, HEAD)
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            # Take the write lock now (a no-op on engines that already BEGIN IMMEDIATE).
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS parity_schema_lock (id INTEGER)")
        before = _current(conn, schema)  # another process may have upgraded meanwhile
        if before != HEAD:
            config = Config()
            config.set_main_option("script_location", str(_HERE))
            config.attributes["connection"] = conn
            config.attributes["schema"] = schema
            command.upgrade(config, "head")
    return SchemaUpgrade(before, HEAD)
