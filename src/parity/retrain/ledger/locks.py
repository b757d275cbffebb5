"""Per-model run locks: one row per model serialises runs across processes.

A lock expires, so a crashed run cannot block a model forever; its holder may take it
again (re-entrant by run id).

Example:
    >>> import tempfile
    >>> from parity.registry.config import SqliteRegistryConfig
    >>> from parity.retrain.database import open_engine
    >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
    >>> from parity.retrain.ledger import Ledger
    >>> ledger = Ledger(engine, project="fraud")
    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> ledger.acquire_lock("m", run_id="r1", now=now, ttl=timedelta(hours=1))
    >>> ledger.release_lock("m")
    True
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.retrain.errors import RunLocked
from parity.retrain.ledger.tables import locks


class ModelLocks:
    """The locks part of the :class:`~parity.retrain.ledger.Ledger`.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> from parity.retrain.ledger import Ledger
        >>> ledger = Ledger(engine, project="fraud")
        >>> ledger.release_lock("m")
        False
    """

    engine: Engine
    project: str

    def acquire_lock(self, model: str, *, run_id: str, now: datetime, ttl: timedelta) -> None:
        """Take the model's lock for ``run_id`` (re-entrant); raise :class:`RunLocked` if held."""
        try:
            try:
                self._try_lock(model, run_id=run_id, now=now, ttl=ttl)
            except sa.exc.IntegrityError:
                # PostgreSQL: another process inserted the row between our read and our
                # insert (there was no row to lock). Read again: now the row decides.
                self._try_lock(model, run_id=run_id, now=now, ttl=ttl)
        except sa.exc.OperationalError as exc:
            # SQLite's busy timeout: another process holds the database's write lock.
            raise RunLocked(
                f"The registry database is locked; model {model!r} could not be locked for run "
                f"{run_id!r} ({exc.orig}). Retry shortly."
            ) from exc

    def _try_lock(self, model: str, *, run_id: str, now: datetime, ttl: timedelta) -> None:
        key = (locks.c.project == self.project) & (locks.c.model == model)
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
            if row["run_id"] != run_id and row["expires_at"] > now:
                raise RunLocked(
                    f"Model {model!r} is locked by run {row['run_id']!r} until "
                    f"{row['expires_at'].isoformat()}. Wait for it to finish, or "
                    f"'parity retrain unlock {model}' if that run is dead."
                )
            conn.execute(
                locks.update()
                .where(key)
                .values(run_id=run_id, acquired_at=now, expires_at=now + ttl)
            )

    def release_lock(self, model: str, *, run_id: str | None = None) -> bool:
        """Release the lock (only if ``run_id`` holds it, when given); True if released."""
        query = locks.delete().where(locks.c.project == self.project, locks.c.model == model)
        if run_id is not None:
            query = query.where(locks.c.run_id == run_id)
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)
