"""Pushing: validated rows into every live version of the views a push source feeds.

A push names a :class:`~parity.definitions.PushSource`. Its targets are every live
(``pending`` or ``serving``) version of every feature view whose source is that push
source; the rows are also appended once to the push source's batch source (a Delta
table), so training later sees exactly what serving saw.

Nothing is half-applied, and a push can be retried safely: every row is first checked
against every target version with the sync controller's checks
(:func:`parity.sync.validate.validate_rows`); a row is accepted only if every version
accepts it, and rejected rows are quarantined with their reasons. Only then is anything
written: the offline append (one Delta commit that also records the push id, see
:mod:`parity.push.ledger`), then the online writes. A push is identified by its
``push_id``; a retry with the same id reuses the time of receipt of the first attempt (so
its rows are bit-identical), skips what already committed, re-runs the online writes
(idempotent: the newest row wins) and, once a push completed, returns its answer without
writing anything (while the online ledger remembers it, see
``server.push.idempotency_retention``). The same id with other rows is refused (409).

Rows use the batch source's column names (its ``timestamp_field``, ``field_mapping``) or
parity's canonical ones (``event_timestamp``); timestamps are ISO 8601 strings with an
offset. A missing ``created_timestamp`` is the time the push was first received.

A push source that feeds live aggregation view versions (``FeatureView(...,
aggregations=[...])``) is published to its stream (``server.push.streams``, see
:mod:`parity.push.publish`) instead: such a view's values are computed by ``parity
stream run`` from raw events. Without a stream, or if the source also feeds plain views,
the push is refused (422) before anything is written.

The :class:`Pusher` takes its collaborators explicitly: the online store, the settings
(project, quarantine folder, ``server.push``) and a quality observer the monitor
provides; the registry snapshot arrives with each push. ``FeatureStore.push`` and the
server's ``/push`` both call it.

Example:
    >>> pusher = Pusher(online, settings=settings, quality=observer)  # doctest: +SKIP
    >>> pusher.push(snapshot, "txn_push", rows, push_id="order-17").rows_written  # doctest: +SKIP
    2
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from parity.definitions import FeatureView
from parity.errors import SchemaMismatch
from parity.offline.base import ViewReadSpec
from parity.offline.delta_writes import open_delta
from parity.online.base import OnlineStore
from parity.push.config import PushSettings
from parity.push.ledger import (
    APP_PREFIX,
    COMMIT_KEY,
    PushIdentity,
    PushLedger,
    committed_identity,
    fingerprint,
    new_push_id,
    offline_transactions,
)
from parity.push.plan import (
    ROW,
    PushPlan,
    PushTarget,
    refuse_unknown_columns,
    resolve_push_plan,
    rows_to_table,
)
from parity.push.publish import publish_push, stream_feed
from parity.push.request import PushRequest, PushResult, parse_push_request
from parity.registry import RegistrySnapshot
from parity.sync.validate import ValidationResult, validate_rows

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable


class QualityObserver(Protocol):
    """Told the validation of every pushed batch, per target view version (the monitor's
    push quality check implements it; the facade wires it).

    Example:
        >>> def observer(view, rows, *, version, validation, now): ...  # doctest: +SKIP
    """

    def __call__(
        self,
        view: FeatureView,
        rows: pa.Table,
        /,
        *,
        version: int,
        validation: ValidationResult,
        now: datetime,
    ) -> object: ...


class _CommittedElsewhere(Exception):
    """Another process committed this push id between our check and our commit."""

    def __init__(self, identity: PushIdentity) -> None:
        super().__init__(identity.push_id)
        self.identity = identity


class Pusher:
    """Applies pushes: validation, quarantine, the Delta append and the online writes.

    Built once per store (or server) from its collaborators and reused: it holds no state
    of its own between pushes (the idempotency records are in the stores).

    Example:
        >>> pusher = Pusher(online, settings=settings, quality=observer)  # doctest: +SKIP
        >>> pusher.push(snapshot, "txn_push", rows).rows_written  # doctest: +SKIP
        2
    """

    def __init__(
        self, online: OnlineStore, *, settings: PushSettings, quality: QualityObserver
    ) -> None:
        self.online = online
        self.settings = settings
        self.quality = quality

    def plan(self, snapshot: RegistrySnapshot, push_source_name: str, /) -> PushPlan:
        """Where ``push_source_name``'s rows go (see :func:`resolve_push_plan`).

        Example:
            >>> pusher.plan(snapshot, "txn_push").source.name  # doctest: +SKIP
            'txn_push'
        """
        return resolve_push_plan(
            snapshot,
            push_source_name,
            repo_root=self.settings.repo_root,
            storage=self.settings.storage,
        )

    def push(
        self,
        snapshot: RegistrySnapshot,
        push_source_name: str,
        rows: Sequence[Mapping[str, Any]],
        /,
        *,
        to: str = "online_and_offline",
        push_id: str | None = None,
        ignore_unknown_columns: bool = False,
    ) -> PushResult:
        """An in-process push (``FeatureStore.push``): the checks and idempotency of ``/push``.

        Datetime values are sent as ISO 8601 text, as the HTTP client does, so a push and
        its retry over either path have the same fingerprint.

        Example:
            >>> pusher.push(snapshot, "txn_push", rows, push_id="o-17").replayed  # doctest: +SKIP
            False
        """
        body: dict[str, Any] = {
            "push_source_name": push_source_name,
            "rows": [
                {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
                for row in rows
            ],
            "to": to,
            "ignore_unknown_columns": ignore_unknown_columns,
        }
        if push_id is not None:
            body["push_id"] = push_id
        request = parse_push_request(body, max_rows=max(len(body["rows"]), 1))
        plan = self.plan(snapshot, push_source_name)
        return self.apply(plan, request, now=datetime.now(UTC))

    def apply(self, plan: PushPlan, request: PushRequest, *, now: datetime) -> PushResult:
        """Apply one push, at most once per push id (see the module doc).

        ``now`` is the time of receipt if this push id is new; a retry reuses the first one.

        Example:
            >>> request = PushRequest("txn_push", rows, "online")  # doctest: +SKIP
            >>> pusher.apply(plan, request, now=now).push_id  # doctest: +SKIP
            '5f0c...'
        """
        settings = self.settings
        if not request.ignore_unknown_columns:
            refuse_unknown_columns(plan, request.rows)  # before anything is recorded
        feed = stream_feed(plan, settings.config.streams)
        if feed is not None:
            return publish_push(plan, request, feed, online=self.online, settings=settings, now=now)
        push_id = request.push_id or new_push_id()
        source = plan.source.name
        offline = request.to in ("offline", "online_and_offline")
        online = request.to in ("online", "online_and_offline")
        if offline and plan.offline.source.format != "delta":
            raise SchemaMismatch(
                f"Push source {source!r} keeps its rows in Parquet at "
                f"{plan.source.batch_source.path!r}; parity appends only to Delta tables. "
                'Declare its batch_source as DeltaSource(...), or push with "to": "online".'
            )
        print_ = fingerprint(source, request.to, request.rows)
        ledger = None
        if online:
            ledger = PushLedger(
                self.online,
                project=settings.project,
                retention=settings.config.idempotency_retention,
                now=now,
            )
        # The ledger read is the online probe: 503 before anything is written if the
        # store is down.
        entry = None if ledger is None else ledger.lookup(source, push_id)
        if entry is not None:
            entry.identity.require_same(print_, push_source=source)
            if entry.result is not None:
                return PushResult.from_dict(entry.result, replayed=True)
        # One snapshot of the batch table serves the check and the append (no reloads).
        offline_source = plan.offline.source
        delta = (
            open_delta(
                offline_source.path,
                options=offline_source.storage.delta_options(offline_source.path),
            )
            if offline
            else None
        )
        committed = committed_identity(delta, push_id)
        if committed is not None:
            committed.require_same(print_, push_source=source)
        identity = committed or (None if entry is None else entry.identity)
        replayed = identity is not None
        if identity is None:
            identity = PushIdentity(push_id, print_, now)
        if ledger is not None and entry is None:
            ledger.start(source, identity)
        table = rows_to_table(plan, request.rows, now=identity.received_at)
        try:
            result = self._write(plan, table, identity, offline=offline, online=online, delta=delta)
        except _CommittedElsewhere as raced:
            # Lost a race with the same push id: continue as a retry of the winner's attempt.
            raced.identity.require_same(print_, push_source=source)
            identity, replayed = raced.identity, True
            table = rows_to_table(plan, request.rows, now=identity.received_at)
            result = self._write(plan, table, identity, offline=offline, online=online)
        result = dataclasses.replace(result, replayed=replayed)
        if ledger is not None:
            ledger.finish(source, identity, dataclasses.replace(result, replayed=False).to_dict())
        return result

    def _write(
        self,
        plan: PushPlan,
        table: pa.Table,
        identity: PushIdentity,
        *,
        offline: bool,
        online: bool,
        delta: DeltaTable | None = None,
    ) -> PushResult:
        """Validate against every target, quarantine rejects (once), then write."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from parity.offline.delta_writes import quarantine

        now = identity.received_at
        count = table.num_rows
        bad = [False] * count
        rejected: list[dict[str, Any]] = []
        per_target: list[tuple[PushTarget, list[int], list[str]]] = []
        for target in plan.targets:
            result = validate_rows(target.view, table, now=now)
            self.quality(target.view, table, version=target.version, validation=result, now=now)
            indices, reasons = [], []
            for index, reason in zip(
                result.rejected.column(ROW).to_pylist(),
                result.reasons.to_pylist(),
                strict=True,
            ):
                indices.append(index)
                reasons.append(reason)
                bad[index] = True
                rejected.append({"row": index, "view": target.ref, "reason": reason})
            per_target.append((target, indices, reasons))
        keep = pc.invert(pa.array(bad))
        accepted = table.filter(keep)
        original = table.drop_columns([ROW])
        for target, indices, reasons in per_target:
            if indices:
                spec = ViewReadSpec.from_view(
                    target.view,
                    version=target.version,
                    repo_root=self.settings.repo_root,
                    storage=self.settings.storage,
                )
                quarantine(
                    spec,
                    original.take(pa.array(indices, pa.int64())),
                    pa.array(reasons, pa.string()),
                    operation="push",
                    root=self.settings.quarantine_root,
                    # Both versions of a view share one quarantine table: one record each.
                    transactions={f"{APP_PREFIX}{identity.push_id}/v{target.version}": 1},
                )
        written = accepted.num_rows
        result_offline = None
        result_online: dict[str, dict[str, int]] = {}
        if written:
            typed = {t.ref: validate_rows(t.view, accepted, now=now).valid for t in plan.targets}
            if offline:
                result_offline = _append_offline(plan, typed, identity, delta)
            if online:
                for target in plan.targets:
                    outcome = self.online.write(target.table, typed[target.ref])
                    result_online[target.ref] = {
                        "written": outcome.written,
                        "skipped": outcome.skipped,
                    }
        rejected.sort(key=lambda r: (r["row"], r["view"]))
        return PushResult(
            push_source=plan.source.name,
            rows_received=count,
            rows_written=written,
            rows_rejected=count - written,
            rejected=rejected,
            online=result_online,
            offline=result_offline,
            push_id=identity.push_id,
        )


def _append_offline(
    plan: PushPlan,
    typed: Mapping[str, pa.Table],
    identity: PushIdentity,
    delta: DeltaTable | None,
) -> dict[str, Any]:
    """One Delta commit holding the rows and the push's record, or none if it committed."""
    from parity.offline.delta_writes import append_once, commit_with_metadata, table_schema

    spec = plan.offline
    rows = typed[f"{spec.name}@v{spec.version}"]
    back = {canonical: source for source, canonical in plan.renames.items()}
    rows = rows.rename_columns([back.get(c, c) for c in rows.column_names])
    schema = table_schema(spec)
    rows = rows.select(schema.names).cast(schema)
    path = spec.source.path
    options = spec.source.storage.delta_options(path)
    version = append_once(
        path,
        rows,
        transactions=offline_transactions(identity),
        metadata={COMMIT_KEY: identity.push_id},
        table=delta,
        options=options,
    )
    committed_before = version is None
    if committed_before:
        committed = committed_identity(open_delta(path, options=options), identity.push_id)
        if committed is not None and committed != identity:
            raise _CommittedElsewhere(committed)
        version = commit_with_metadata(path, COMMIT_KEY, identity.push_id, options=options)
    return {
        "table_path": path,
        "table_version": version,
        "rows_written": rows.num_rows,
        "committed_before": committed_before,
    }
