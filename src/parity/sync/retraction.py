"""Backfills that delete or replace the served row retract it online.

Online values only move forward (a late row never beats a newer one), except here: a
backfill replaces the rows of an event range ``[start, end)``, and the row an entity is
served may be among the rows it removed. The rule: online changes where, and only where,
the current value changes. After publishing, a sync of a Delta source looks at the
backfill commits since the table version its previous successful run read (each backfill
commit carries its range, :data:`parity.offline.delta_writes.BACKFILL_METADATA`), takes
the entities that had rows in a backfilled range just before that commit, and for each
whose online value has its event time in such a range recomputes the offline value: the
greatest ``(event, created)`` row that passes validation now. Where that differs from the
online value, the online value is swapped for it, or removed when there is none
(``OnlineStore.swap``, compare-and-set: a newer value written meanwhile is kept).

Example:
    >>> backfills_after("/no/such/table", after=None, upto=3)
    ()
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from parity.offline.changes import source_rows_query
from parity.offline.delta_writes import BACKFILL_METADATA
from parity.offline.point_in_time import duckdb_type, quote
from parity.offline.source_scan import open_source, register_source
from parity.online.base import ReadRequest, ValueSwap
from parity.online.codec import TableCodec
from parity.sync.latest import latest_per_entity
from parity.sync.validate import validate_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.offline.base import ViewReadSpec
    from parity.sync.run import SyncRun


@dataclass(frozen=True)
class Backfill:
    """One backfill commit of a Delta source: the version it made and the range it replaced.

    Example:
        >>> from datetime import UTC, datetime
        >>> Backfill(4, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)).version
        4
    """

    version: int
    start: datetime
    end: datetime

    def covers(self, event_us: int) -> bool:
        """True if an event time (microseconds since the epoch) lies in ``[start, end)``."""
        return _us(self.start) <= event_us < _us(self.end)


def _us(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def backfills_after(path: str, *, after: int | None, upto: int) -> tuple[Backfill, ...]:
    """The backfill commits of the Delta table at ``path`` with ``after < version <= upto``.

    ``after`` is ``None`` when nothing was published from the table yet: nothing to retract.
    """
    from deltalake import DeltaTable

    if after is None or upto <= after or not DeltaTable.is_deltatable(path):
        return ()
    found = []
    for commit in DeltaTable(path).history(limit=upto - after + 1):
        version = int(commit["version"])
        if after < version <= upto and BACKFILL_METADATA in commit:
            bounds = json.loads(commit[BACKFILL_METADATA])
            found.append(
                Backfill(
                    version,
                    datetime.fromisoformat(bounds["start"]),
                    datetime.fromisoformat(bounds["end"]),
                )
            )
    return tuple(sorted(found, key=lambda b: b.version))


def _keys_before(spec: ViewReadSpec, backfill: Backfill) -> pa.Table:
    """Distinct join keys with rows in the backfilled range just before the backfill."""
    import duckdb

    scan = open_source(spec.at_table_version(backfill.version - 1))
    keys = ", ".join(
        f"CAST({quote(k.source_column)} AS {duckdb_type(k.dtype)}) AS {quote(k.name)}"
        for k in spec.join_keys
    )
    ts = quote(spec.source.timestamp_field)
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        register_source(conn, scan, "__parity_source")
        return conn.sql(
            f"SELECT DISTINCT {keys} FROM __parity_source WHERE {ts} >= $start AND {ts} < $end",
            params={"start": backfill.start, "end": backfill.end},
        ).to_arrow_table()


def _current_rows(spec: ViewReadSpec, keys: pa.Table) -> pa.Table:
    """Every row of the entities in ``keys`` at the spec's table version, canonical names."""
    import duckdb

    scan = open_source(spec)
    on = " AND ".join(f"s.{quote(k.name)} = e.{quote(k.name)}" for k in spec.join_keys)
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        register_source(conn, scan, "__parity_source")
        conn.register("__parity_keys", keys)
        rows = source_rows_query(spec, "__parity_source", bounds={})
        return conn.sql(
            f"SELECT s.* FROM ({rows}) s SEMI JOIN __parity_keys e ON {on}"
        ).to_arrow_table()


def retract_backfilled(run: SyncRun) -> None:
    """Swap out online values a backfill deleted or replaced (see the module docstring)."""
    import pyarrow as pa

    read = run.table_read
    if read is None or read.table_version is None or run.spec.aggregations:
        return
    backfills = backfills_after(
        run.spec.source.path, after=run.published_version, upto=read.table_version
    )
    if not backfills:
        return
    spec = run.spec.at_table_version(read.table_version)
    keys = (
        pa.concat_tables([_keys_before(spec, b) for b in backfills])
        .group_by([k.name for k in spec.join_keys])
        .aggregate([])
    )
    run.details["retraction"] = {
        "backfills": [b.version for b in backfills],
        "entities": keys.num_rows,
    }
    if keys.num_rows == 0:
        return
    names = [k.name for k in spec.join_keys]
    valid = validate_rows(
        run.view, _current_rows(spec, keys), now=run.now, future_tolerance=run.future_tolerance
    ).valid
    latest = latest_per_entity(valid, names)
    codec = TableCodec(run.table)
    offline: dict[bytes, bytes] = {}
    if latest.num_rows:
        batch = codec.encode_batch(latest)
        offline = dict(zip(batch.keys.to_pylist(), batch.values.to_pylist(), strict=True))
    key_tuples = list(zip(*(keys.column(n).to_pylist() for n in names), strict=True))
    [online] = run.online.read([ReadRequest(run.table, key_tuples)])
    changes = []
    for key, row in zip(key_tuples, online, strict=True):
        if row is None or not any(b.covers(row.event_us) for b in backfills):
            continue  # the backfill could not have removed this value
        encoded_key = codec.encode_key(key)
        current, now_offline = codec.encode_row(row), offline.get(encoded_key)
        if current != now_offline:
            changes.append(ValueSwap(encoded_key, expected=current, new=now_offline))
    swapped = run.online.swap(run.table, changes)
    removed = sum(1 for c in changes if c.new is None)
    run.details["retraction"].update(
        swapped=swapped, removed=removed, replaced=len(changes) - removed
    )
    run.retracted = swapped
