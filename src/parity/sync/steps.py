"""The steps of one sync run, in order, each a small function of the run's state.

``SYNC_STEPS = (read_source, validate, quarantine_rejects, reduce_to_latest, publish,
retract_backfilled)``.
Each step reads and fills fields of :class:`SyncRun`; the controller records each one
as it completes, so a sync record always says how far a run got.

Example:
    >>> [step.__name__ for step in SYNC_STEPS]
    ['read_source', 'validate', 'quarantine_rejects', 'reduce_to_latest', 'publish', \
'retract_backfilled']
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from parity.offline.changes import read_source_rows
from parity.offline.delta_writes import quarantine
from parity.online.base import WriteResult
from parity.sync.latest import latest_per_entity
from parity.sync.retraction import retract_backfilled
from parity.sync.run import PUBLISH_THREADS, SyncRun
from parity.sync.validate import validate_rows


def read_source(run: SyncRun) -> None:
    """Read the rows of the window (and, incrementally, written after the watermark)."""
    run.rows, run.table_read = read_source_rows(
        run.spec,
        start=run.start,
        end=run.end,
        written_after=run.written_after,
        written_before=run.written_before,
    )
    run.details["table_read"] = run.table_read.to_dict()
    run.report_progress("read", run.rows_read, run.rows_read)


def validate(run: SyncRun) -> None:
    """Schema, entity keys, timestamps and the data contract, column-wise."""
    assert run.rows is not None
    run.validation = validate_rows(
        run.view, run.rows, now=run.now, future_tolerance=run.future_tolerance
    )
    run.details["rejections"] = run.validation.rule_counts()


def quarantine_rejects(run: SyncRun) -> None:
    """Rejected rows go to the view's quarantine table with their reasons: never dropped."""
    assert run.validation is not None
    if run.validation.rejected_count:
        where = quarantine(
            run.spec,
            run.validation.rejected,
            run.validation.reasons,
            operation="sync",
            root=run.quarantine_root,
        )
        run.details["quarantine"] = str(where)


def reduce_to_latest(run: SyncRun) -> None:
    """Keep each entity's greatest ``(event, created)`` valid row; nothing else can win online.

    Exact ties keep the row read last; the result is ordered by the join keys.
    """
    assert run.validation is not None
    run.latest = latest_per_entity(run.validation.valid, list(run.table.join_key_names))


def publish(run: SyncRun) -> None:
    """Write the latest rows to the view version's online namespace, in chunks.

    Chunks hold distinct entities (one row per entity), so they are written by
    :data:`PUBLISH_THREADS` threads at once: one encodes while another waits on the store.
    Progress is reported in chunk order.
    """
    assert run.latest is not None
    latest = run.latest
    total = int(latest.num_rows)
    run.report_progress("publish", 0, total)
    offsets = range(0, total, run.chunk_rows)

    def write(offset: int) -> WriteResult:
        return run.online.write(run.table, latest.slice(offset, run.chunk_rows))

    with ThreadPoolExecutor(PUBLISH_THREADS, thread_name_prefix="parity-publish") as pool:
        for offset, result in zip(offsets, pool.map(write, offsets), strict=True):
            run.written += result.written
            run.skipped += result.skipped
            if run.chunk_published is not None:
                run.chunk_published()
            run.report_progress("publish", min(offset + run.chunk_rows, total), total)


SYNC_STEPS: tuple[Callable[[SyncRun], None], ...] = (
    read_source,
    validate,
    quarantine_rejects,
    reduce_to_latest,
    publish,
    retract_backfilled,
)
