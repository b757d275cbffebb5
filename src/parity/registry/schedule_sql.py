"""The sync scheduler's state in the registry database: next due time, decision, lease.

One row per view version in ``parity_sync_schedules``. Claiming a view version takes the
row under the same kind of lock an apply takes (SQLite: the ``BEGIN IMMEDIATE`` write lock;
PostgreSQL: ``SELECT ... FOR UPDATE`` on the row), checks the lease, and writes the new
holder in that transaction: two scheduler copies, in any number of processes or hosts,
never both hold one view version's lease. A lease that expired belongs to a copy that died;
the next claim takes it over.

Example:
    >>> from datetime import UTC, datetime
    >>> row_to_schedule({"view": "user_stats", "view_version": 1, "next_due_at": None,
    ...     "last_run_at": None, "missed_refreshes": 0, "holder": None,
    ...     "lease_expires_at": None, "decision": {}}).view
    'user_stats'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

import parity.registry.tables as t
from parity.registry.records import SyncSchedule

__all__ = ["claim", "read_all", "release", "renew", "row_to_schedule"]

_S = t.sync_schedules


def _utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything parity stores is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def row_to_schedule(row: Mapping[Any, Any]) -> SyncSchedule:
    """A ``parity_sync_schedules`` row as a :class:`SyncSchedule`."""
    return SyncSchedule(
        view=row["view"],
        view_version=row["view_version"],
        next_due_at=_utc(row["next_due_at"]),
        last_run_at=_utc(row["last_run_at"]),
        missed_refreshes=row["missed_refreshes"],
        holder=row["holder"],
        lease_expires_at=_utc(row["lease_expires_at"]),
        decision=row["decision"] or {},
    )


def _key(project: str, view: str, version: int) -> sa.ColumnElement[bool]:
    return (_S.c.project == project) & (_S.c.view == view) & (_S.c.view_version == version)


def claim(
    conn: Connection,
    project: str,
    view: str,
    version: int,
    *,
    holder: str,
    now: datetime,
    lease_until: datetime,
    is_postgres: bool,
) -> SyncSchedule | None:
    """Take the lease of one view version if it is free, expired or already ``holder``'s;
    return the row as it was before (None: another live holder has it)."""
    insert = (postgresql.insert if is_postgres else sqlite.insert)(_S)
    conn.execute(
        insert.values(
            project=project, view=view, view_version=version, missed_refreshes=0, decision={}
        ).on_conflict_do_nothing(index_elements=["project", "view", "view_version"])
    )
    query = sa.select(_S).where(_key(project, view, version))
    if is_postgres:
        query = query.with_for_update()
    current = row_to_schedule(conn.execute(query).mappings().one())
    taken = current.holder not in (None, holder)
    if taken and current.lease_expires_at is not None and current.lease_expires_at > now:
        return None
    conn.execute(
        _S.update()
        .where(_key(project, view, version))
        .values(holder=holder, lease_expires_at=lease_until)
    )
    return current


def release(
    conn: Connection,
    project: str,
    schedule: SyncSchedule,
    *,
    holder: str,
) -> bool:
    """Write ``schedule`` (next due time, decision, counts) and free the lease, only if
    ``holder`` still holds it; False if the lease was lost (expired and taken over)."""
    updated = conn.execute(
        _S.update()
        .where(_key(project, schedule.view, schedule.view_version) & (_S.c.holder == holder))
        .values(
            next_due_at=schedule.next_due_at,
            last_run_at=schedule.last_run_at,
            missed_refreshes=schedule.missed_refreshes,
            decision=dict(schedule.decision),
            holder=None,
            lease_expires_at=None,
        )
    ).rowcount
    return bool(updated)


def renew(
    conn: Connection, project: str, view: str, version: int, *, holder: str, until: datetime
) -> bool:
    """Extend ``holder``'s lease; False if it no longer holds it."""
    return bool(
        conn.execute(
            _S.update()
            .where(_key(project, view, version) & (_S.c.holder == holder))
            .values(lease_expires_at=until)
        ).rowcount
    )


def read_all(conn: Connection, project: str) -> list[SyncSchedule]:
    """Every schedule row of ``project``, by view and version."""
    query = sa.select(_S).where(_S.c.project == project).order_by(_S.c.view, _S.c.view_version)
    return [row_to_schedule(row) for row in conn.execute(query).mappings()]
