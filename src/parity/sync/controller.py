"""The synchronization controller: offline -> online, validated, versioned, recorded.

A run publishes one view version. It never copies blindly: rows pass the checks of
:mod:`parity.sync.validate` or go to quarantine; the online store never lets an older
value replace a newer one; each run is recorded in the registry as it starts, after each
step, and when it ends. A run killed part-way stays ``running`` until the next run of the
same version finds its process gone and marks it ``interrupted``; rerunning converges to
the state of an uninterrupted run because every online write is idempotent, and the
watermark only moves when a run succeeds.

Modes:

- ``range``: rows with event time in ``[start, end)``, whenever they were written.
- ``incremental``: rows *written* (created timestamp) in ``[watermark, end)``, whatever
  their event time, so late rows with an old event time are still published. Sources
  without a created timestamp are read in full up to ``end`` each time.

A pending version is validated after a successful run (reject ratio under the threshold
and a sample of online values equal to the offline point-in-time values) and promoted to
serving when ``auto_promote`` is on; otherwise ``parity promote`` does it, and refuses a
version that has not passed validation.

Example:
    >>> controller.materialize("user_stats", 2, start=t0, end=t1)  # doctest: +SKIP
    SyncReport(... outcome=<SyncOutcome.SUCCEEDED: 'succeeded'> ...)
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.definitions import FeatureView
from parity.errors import NaiveTimestampError, ParityError, SchemaMismatch, SyncFailed
from parity.offline.base import OfflineEngine, ViewReadSpec
from parity.offline.changes import source_rows_of_entities
from parity.offline.partitions import PartitionedSourceRows
from parity.online.base import OnlineStore, ViewTable
from parity.registry import Actor, ObjectKind, Registry, SyncRecord, VersionState
from parity.storage import ObjectStorage
from parity.sync.consistency import compare_online_offline
from parity.sync.distributed import DISTRIBUTED_SYNC_STEPS
from parity.sync.observer import NO_OBSERVER, SyncBatch, SyncFailure, SyncObserver
from parity.sync.report import SyncOutcome, SyncReport, VersionValidation
from parity.sync.run import PUBLISH_CHUNK_ROWS, Progress, SyncRun
from parity.sync.steps import SYNC_STEPS
from parity.sync.validate import CREATED_TIMESTAMP
from parity.types import require_utc

if TYPE_CHECKING:
    from parity.backends import BackendConfig

SYNC_ACTOR = Actor("parity-sync", {"host": socket.gethostname()})
logger = logging.getLogger("parity.sync")


@dataclass(frozen=True)
class SyncSettings:
    """Knobs of the controller (see ``sync:`` in parity.yaml)."""

    future_tolerance: timedelta = timedelta(minutes=5)
    max_reject_ratio: float = 0.01
    validation_sample: int = 200
    auto_promote: bool = False
    chunk_rows: int = PUBLISH_CHUNK_ROWS
    # While publishing, the run's record is updated with the rows written so far at most
    # this often (0: after every chunk).
    progress_record_seconds: float = 1.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SyncController:
    """Publishes view versions from the offline sources to the online store.

    Example:
        >>> SyncSettings().max_reject_ratio
        0.01
    """

    def __init__(
        self,
        *,
        project: str,
        registry: Registry,
        engine: OfflineEngine,
        online: OnlineStore,
        repo_root: Path,
        quarantine_root: Path,
        storage: ObjectStorage | None = None,
        settings: SyncSettings = SyncSettings(),
        observer: SyncObserver = NO_OBSERVER,
        online_config: BackendConfig | None = None,
    ) -> None:
        self.project = project
        self.registry = registry
        self.engine = engine
        self.online = online
        self.repo_root = repo_root
        self.quarantine_root = quarantine_root
        # How to reach s3:// sources.
        self.storage = storage if storage is not None else ObjectStorage()
        self.settings = settings
        # Told of every published batch (the facade wires the monitor's quality checks).
        self.observer = observer
        # With an engine that runs partition tasks (Spark) and the online store's config,
        # runs publish from the engine's executors (parity.sync.distributed).
        self.online_config = online_config

    # --- public --------------------------------------------------------------------------

    def materialize(
        self,
        view: str,
        version: int,
        *,
        start: datetime,
        end: datetime,
        progress: Progress | None = None,
        now: datetime | None = None,
    ) -> SyncReport:
        """Publish the rows of ``view@vversion`` whose event time is in ``[start, end)``."""
        start = require_utc(start, what="start")
        end = require_utc(end, what="end")
        run = self._new_run(view, version, now=now, progress=progress)
        run.start, run.end = start, end
        return self._execute(run, mode="range", watermark=end)

    def materialize_incremental(
        self,
        view: str,
        version: int,
        *,
        end: datetime | None = None,
        progress: Progress | None = None,
        now: datetime | None = None,
    ) -> SyncReport:
        """Publish the rows written since the last successful incremental run, up to ``end``."""
        run = self._new_run(view, version, now=now, progress=progress)
        end = run.now if end is None else require_utc(end, what="end")
        run.written_after = self.watermark(view, version)
        run.written_before = end
        if run.spec.source.created_timestamp_field is None:
            run.end = end
            run.details["watermark_kind"] = "event_time (the source has no created timestamp)"
        return self._execute(run, mode="incremental", watermark=end)

    def watermark(self, view: str, version: int) -> datetime | None:
        """Where the next incremental run of this version starts (None: from the beginning)."""
        for record in self.registry.sync_records(self.project, view, version, limit=1000):
            if (
                record.outcome == SyncOutcome.SUCCEEDED
                and record.details.get("mode") == "incremental"
            ):
                return record.watermark
        return None

    # --- internals -----------------------------------------------------------------------

    def _published_version(self, view: str, version: int) -> int | None:
        """The source table version the last successful run of this version read."""
        for record in self.registry.sync_records(self.project, view, version, limit=1000):
            if record.outcome == SyncOutcome.SUCCEEDED:
                read = record.details.get("table_read") or {}
                found = read.get("table_version")
                return found if isinstance(found, int) else None
        return None

    def _new_run(
        self, view_name: str, version: int, *, now: datetime | None, progress: Progress | None
    ) -> SyncRun:
        record = self.registry.snapshot(self.project).get(
            ObjectKind.FEATURE_VIEW, view_name, version
        )
        if record is None:
            from parity.errors import FeatureViewNotFound

            raise FeatureViewNotFound(f"No feature view {view_name}@v{version} to materialize.")
        view = FeatureView.from_dict(record.spec)
        return SyncRun(
            view=view,
            version=version,
            spec=ViewReadSpec.from_view(
                view, version=version, repo_root=self.repo_root, storage=self.storage
            ),
            table=ViewTable.from_view(view, project=self.project, version=version),
            online=self.online,
            quarantine_root=self.quarantine_root,
            now=datetime.now(UTC) if now is None else require_utc(now, what="now"),
            future_tolerance=self.settings.future_tolerance,
            progress=progress,
            chunk_rows=self.settings.chunk_rows,
            repo_root=self.repo_root,
        )

    def _steps(self, run: SyncRun) -> tuple[Callable[[SyncRun], None], ...]:
        """The local steps, or the engine's executors when it can run partition tasks
        (aggregation views are computed at the sync instant, always locally)."""
        if (
            isinstance(self.engine, PartitionedSourceRows)
            and self.online_config is not None
            and not run.spec.aggregations
        ):
            run.partitions, run.online_config = self.engine, self.online_config
            run.details["publish"] = "partitions"
            return DISTRIBUTED_SYNC_STEPS
        return SYNC_STEPS

    def _record(
        self,
        run: SyncRun,
        run_id: str,
        started: datetime,
        outcome: SyncOutcome,
        *,
        finished: datetime | None = None,
        watermark: datetime | None = None,
        delay: float | None = None,
    ) -> None:
        rejected = 0 if run.validation is None else run.validation.rejected_count
        self.registry.record_sync(
            self.project,
            SyncRecord(
                run_id=run_id,
                view=run.view.name,
                view_version=run.version,
                started_at=started,
                finished_at=finished,
                outcome=outcome.value,
                watermark=watermark,
                rows_read=run.rows_read,
                rows_written=run.written,
                rows_rejected=rejected,
                delay_seconds=delay,
                details=dict(run.details),
            ),
        )

    def _progress_recorder(
        self, run: SyncRun, run_id: str, started: datetime
    ) -> Callable[[], None]:
        last = time.monotonic()

        def record_progress() -> None:
            nonlocal last
            if time.monotonic() - last >= self.settings.progress_record_seconds:
                self._record(run, run_id, started, SyncOutcome.RUNNING)
                last = time.monotonic()

        return record_progress

    def _tell_failure(
        self, run: SyncRun, run_id: str, outcome: str, error: str, at: datetime
    ) -> None:
        failure = SyncFailure(run.view.name, run.version, run_id, outcome, error, at)
        try:
            self.observer.run_failed(failure)
        except Exception as exc:  # the run's own outcome must not be hidden by its alert
            logger.error("sync failure of %s@v%s not reported: %r", run.view.name, run.version, exc)

    def _mark_interrupted(self, run: SyncRun, run_id: str) -> None:
        host = socket.gethostname()
        for record in self.registry.sync_records(
            self.project, run.view.name, run.version, limit=1000
        ):
            if record.outcome != SyncOutcome.RUNNING or record.run_id == run_id:
                continue
            pid = record.details.get("pid")
            if record.details.get("host") == host and isinstance(pid, int) and not _pid_alive(pid):
                details = {
                    **record.details,
                    "interrupted": f"process {pid} is gone; found by run {run_id}",
                }
                self.registry.record_sync(
                    self.project,
                    replace(
                        record,
                        outcome=SyncOutcome.INTERRUPTED.value,
                        finished_at=datetime.now(UTC),
                        details=details,
                    ),
                )

    def _execute(self, run: SyncRun, *, mode: str, watermark: datetime) -> SyncReport:
        run_id = uuid.uuid4().hex
        started = datetime.now(UTC)
        run.details.update(
            mode=mode,
            pid=os.getpid(),
            host=socket.gethostname(),
            steps=[],
            step_seconds={},
            window={
                "start": _iso(run.start),
                "end": _iso(run.end),
                "written_after": _iso(run.written_after),
                "written_before": _iso(run.written_before),
            },
        )
        run.published_version = self._published_version(run.view.name, run.version)
        steps = self._steps(run)
        self._mark_interrupted(run, run_id)
        self._record(run, run_id, started, SyncOutcome.RUNNING)
        run.chunk_published = self._progress_recorder(run, run_id, started)
        try:
            for step in steps:
                clock = time.perf_counter()
                step(run)
                run.details["step_seconds"][step.__name__] = round(time.perf_counter() - clock, 6)
                run.details["steps"].append(step.__name__)
                self._record(run, run_id, started, SyncOutcome.RUNNING)
        except (SchemaMismatch, NaiveTimestampError) as exc:
            run.details["error"] = str(exc)
            finished = datetime.now(UTC)
            self._record(run, run_id, started, SyncOutcome.BLOCKED, finished=finished)
            self._tell_failure(run, run_id, SyncOutcome.BLOCKED.value, str(exc), finished)
            return self._report(
                run, run_id, mode, SyncOutcome.BLOCKED, started, finished, error=str(exc)
            )
        except BaseException as exc:
            run.details["error"] = f"{type(exc).__name__}: {exc}"
            finished = datetime.now(UTC)
            self._record(run, run_id, started, SyncOutcome.FAILED, finished=finished)
            if isinstance(exc, Exception):
                self._tell_failure(
                    run, run_id, SyncOutcome.FAILED.value, run.details["error"], finished
                )
            if isinstance(exc, Exception) and not isinstance(exc, ParityError):
                # A corrupt Parquet file, a Delta commit missing from _delta_log, a full
                # disk: one clear error naming the run and the step, not a traceback.
                done = run.details["steps"]
                failed_step = SYNC_STEPS[len(done)].__name__ if len(done) < len(SYNC_STEPS) else "?"
                raise SyncFailed(
                    f"{run.view.name}@v{run.version}: sync run {run_id} failed in step "
                    f"{failed_step!r}: {type(exc).__name__}: {exc}. The run is recorded "
                    "failed and the watermark did not move; fix the cause (the source files, "
                    "the offline store's disk) and rerun."
                ) from exc
            raise
        self.observer.batch_validated(
            SyncBatch(run.view, run.version, run.rows, run.validation, at=run.now)
        )
        clock = time.perf_counter()
        validation = self._validate_version(run)
        run.details["step_seconds"]["validate_version"] = round(time.perf_counter() - clock, 6)
        run.details["validation"] = validation.to_dict()
        promoted = self._maybe_promote(run, validation)
        run.details["promoted"] = promoted
        finished = datetime.now(UTC)
        if not validation.passed:
            self._tell_failure(
                run,
                run_id,
                "validation_failed",
                f"{validation.mismatches} online/offline mismatches in {validation.sampled} "
                f"sampled keys, {validation.reject_ratio:.1%} of rows rejected (at most "
                f"{validation.max_reject_ratio:.1%}); the version is not promoted",
                finished,
            )
        delay = self._delay(run, finished)
        self._record(
            run,
            run_id,
            started,
            SyncOutcome.SUCCEEDED,
            finished=finished,
            watermark=watermark,
            delay=delay,
        )
        return self._report(
            run,
            run_id,
            mode,
            SyncOutcome.SUCCEEDED,
            started,
            finished,
            watermark=watermark,
            delay_seconds=delay,
            validation=validation,
            promoted=promoted,
        )

    def _validate_version(self, run: SyncRun) -> VersionValidation:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        assert run.validation is not None and run.latest is not None
        rejected = run.validation.rejected_count
        ratio = rejected / run.rows_read if run.rows_read else 0.0
        latest = run.latest
        keys = list(run.table.join_key_names)
        if rejected:
            # Entities with rejected rows legitimately differ from the raw offline value.
            bad = run.validation.rejected.select(
                [k for k in keys if k in run.validation.rejected.column_names]
            )
            if bad.num_columns == len(keys):
                latest = latest.join(bad, keys=keys, join_type="left anti")
        sample = latest.take(
            pa.array(_sample_indices(latest.num_rows, self.settings.validation_sample), pa.int64())
        )
        if sample.num_rows == 0:
            return VersionValidation(ratio, self.settings.max_reject_ratio, 0, 0)
        at = pc.max(latest.column("event_timestamp")).as_py()
        spec = run.spec
        if run.table_read is not None and run.table_read.table_version is not None:
            spec = spec.at_table_version(run.table_read.table_version)
        with tempfile.TemporaryDirectory(prefix="parity-validation-") as folder:
            # The offline side reads only the sampled entities' rows (all of them, whatever
            # their time): the same point-in-time values as a read of the whole source, for
            # a semi-join scan instead of a join over every row.
            rows = source_rows_of_entities(spec, sample.select(keys))
            if rows is not None:
                path = Path(folder) / "sampled_entities.parquet"
                pq.write_table(rows, path)
                spec = replace(
                    spec,
                    source=replace(
                        spec.source, format="parquet", path=str(path), table_version=None
                    ),
                )
            result = compare_online_offline(
                self.engine, self.online, spec, run.table, sample.select(keys), at=at
            )
        return VersionValidation(
            ratio,
            self.settings.max_reject_ratio,
            result.sampled,
            result.mismatches,
            result.examples,
        )

    def _maybe_promote(self, run: SyncRun, validation: VersionValidation) -> bool:
        if not (self.settings.auto_promote and validation.passed):
            return False
        record = self.registry.snapshot(self.project).get(
            ObjectKind.FEATURE_VIEW, run.view.name, run.version
        )
        if record is None or record.state is not VersionState.PENDING:
            return False
        self.registry.transition(
            self.project,
            ObjectKind.FEATURE_VIEW,
            run.view.name,
            run.version,
            VersionState.SERVING,
            actor=SYNC_ACTOR,
            message="validated by sync: reject ratio and online/offline sample passed",
        )
        return True

    @staticmethod
    def _delay(run: SyncRun, finished: datetime) -> float | None:
        import pyarrow.compute as pc

        if run.rows is None or run.rows.num_rows == 0:
            return None
        column = (
            CREATED_TIMESTAMP if CREATED_TIMESTAMP in run.rows.column_names else "event_timestamp"
        )
        newest = pc.max(run.rows.column(column)).as_py()
        return None if newest is None else (finished - newest).total_seconds()

    @staticmethod
    def _report(
        run: SyncRun,
        run_id: str,
        mode: str,
        outcome: SyncOutcome,
        started: datetime,
        finished: datetime,
        **extra: Any,
    ) -> SyncReport:
        return SyncReport(
            run_id=run_id,
            view=run.view.name,
            version=run.version,
            mode=mode,
            outcome=outcome,
            started_at=started,
            finished_at=finished,
            rows_read=run.rows_read,
            rows_rejected=0 if run.validation is None else run.validation.rejected_count,
            rows_written=run.written,
            rows_skipped=run.skipped,
            rejections=dict(run.details.get("rejections", {})),
            **extra,
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _sample_indices(n: int, k: int) -> list[int]:
    # Evenly spaced, deterministic: a rerun validates the same keys.
    if n <= k:
        return list(range(n))
    step = n / k
    return [int(i * step) for i in range(k)]
