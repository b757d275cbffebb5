"""``/push``: validated rows into every live version of the views a push source feeds.

A push names a :class:`~parity.definitions.PushSource`. Its targets are every live
(``pending`` or ``serving``) version of every feature view whose source is that push
source; the rows are also appended once to the push source's batch source (a Delta
table), so training later sees exactly what serving saw.

Nothing is half-applied, and a push can be retried safely: every row is first checked
against every target version with the sync controller's checks
(:func:`parity.sync.validate.validate_rows`); a row is accepted only if every version
accepts it, and rejected rows are quarantined with their reasons. Only then is anything
written: the offline append (one Delta commit that also records the push id, see
:mod:`parity.serve.push_ledger`), then the online writes. A push is identified by its
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
:mod:`parity.serve.push_stream`) instead: such a view's values are computed by ``parity
stream run`` from raw events. Without a stream, or if the source also feeds plain views,
the push is refused (422) before anything is written.

Example:
    >>> plan = resolve_push_plan(snapshot, "txn_push", repo_root=root)  # doctest: +SKIP
    >>> apply_push(store, plan, request, now=now).rows_written  # doctest: +SKIP
    2
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from parity.definitions import FeatureView, PushSource
from parity.errors import ObjectNotFound, SchemaMismatch, did_you_mean
from parity.monitor.policy import check_push_quality
from parity.offline.base import ViewReadSpec
from parity.offline.delta_writes import open_delta
from parity.online.base import ViewTable
from parity.registry import ObjectKind, RegistrySnapshot, VersionState
from parity.serve.http_errors import BadRequest, RequestTooLarge
from parity.serve.push_ledger import (
    APP_PREFIX,
    COMMIT_KEY,
    PushIdentity,
    PushLedger,
    check_push_id,
    committed_identity,
    fingerprint,
    new_push_id,
    offline_transactions,
)
from parity.serve.wire import check_fields, parse_timestamp
from parity.sync.validate import CREATED_TIMESTAMP, EVENT_TIMESTAMP, validate_rows

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

    from parity.store import FeatureStore

PushMode = Literal["online", "offline", "online_and_offline"]
_MODES: tuple[str, ...] = ("online", "offline", "online_and_offline")
_ROW = "__parity_push_row"
_LIVE = (VersionState.PENDING, VersionState.SERVING)
_KEYS = frozenset(
    {
        "push_source_name",
        "rows",
        "df",
        "to",
        "push_id",
        "allow_registry_cache",
        "transform_on_write",
    }
)


class PushSourceNotFound(ObjectNotFound):
    """No live feature view reads from a push source of that name."""


class _CommittedElsewhere(Exception):
    """Another process committed this push id between our check and our commit."""

    def __init__(self, identity: PushIdentity) -> None:
        super().__init__(identity.push_id)
        self.identity = identity


@dataclass(frozen=True)
class PushTarget:
    """One live view version a push writes to."""

    view: FeatureView
    version: int
    table: ViewTable

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return f"{self.view.name}@v{self.version}"

    @property
    def aggregates(self) -> bool:
        """True for an aggregation view: its values come from the stream processor."""
        return bool(self.view.aggregations)


@dataclass(frozen=True)
class PushPlan:
    """Where a push source's rows go, resolved once per registry cache period.

    ``renames`` maps batch source column names to canonical ones.
    """

    source: PushSource
    targets: tuple[PushTarget, ...]
    offline: ViewReadSpec
    renames: Mapping[str, str]


@dataclass(frozen=True)
class PushRequest:
    """A parsed ``/push`` body; ``push_id`` None means "generate one".

    Example:
        >>> PushRequest("txn_push", [{"user_id": 1}], "online", push_id="p1").push_id
        'p1'
    """

    push_source_name: str
    rows: list[dict[str, Any]]
    to: PushMode
    push_id: str | None = None


@dataclass(frozen=True)
class PushResult:
    """What a push did; ``rejected`` holds ``{"row", "view", "reason"}`` per failed check.

    ``streams`` counts the events published per stream (aggregation views, see
    :mod:`parity.serve.push_stream`). ``replayed`` is True when this push id had been seen
    before: either the answer of the completed first attempt, returned as it was, or a
    retry that finished an interrupted one.

    Example:
        >>> PushResult("txn_push", 2, 2, 0, push_id="p1").to_dict()["push_id"]
        'p1'
    """

    push_source: str
    rows_received: int
    rows_written: int
    rows_rejected: int
    rejected: list[dict[str, Any]] = field(default_factory=list)
    online: dict[str, dict[str, int]] = field(default_factory=dict)
    offline: dict[str, Any] | None = None
    push_id: str = ""
    replayed: bool = False
    streams: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        return {
            "push_id": self.push_id,
            "push_source_name": self.push_source,
            "rows_received": self.rows_received,
            "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected,
            "rejected": self.rejected,
            "online": self.online,
            "offline": self.offline,
            "replayed": self.replayed,
            "streams": self.streams,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, replayed: bool) -> PushResult:
        """The result a :meth:`to_dict` answer describes (a recorded answer, replayed)."""
        return cls(
            push_source=data["push_source_name"],
            rows_received=data["rows_received"],
            rows_written=data["rows_written"],
            rows_rejected=data["rows_rejected"],
            rejected=data["rejected"],
            online=data["online"],
            offline=data["offline"],
            push_id=data["push_id"],
            replayed=replayed,
            streams=data.get("streams", {}),
        )


def parse_push_request(data: Mapping[str, Any], *, max_rows: int) -> PushRequest:
    """Check a ``/push`` body: parity's ``rows`` (row-wise) or Feast's ``df`` (column-wise).

    Example:
        >>> parse_push_request({"push_source_name": "s", "rows": [{"a": 1}]}, max_rows=9).to
        'online_and_offline'
    """
    check_fields(data, _KEYS, "/push")
    name = data.get("push_source_name")
    if not isinstance(name, str) or not name:
        raise BadRequest('/push: "push_source_name" (a non-empty string) is required.')
    to = data.get("to", "online_and_offline")
    if to not in _MODES:
        raise BadRequest(
            f'/push: "to" {to!r} is not a push mode.{did_you_mean(str(to), _MODES)} '
            f"Use one of {', '.join(_MODES)}."
        )
    rows, df = data.get("rows"), data.get("df")
    if (rows is None) == (df is None):
        raise BadRequest(
            '/push: send the rows either as "rows": [{...}, ...] or column-wise as '
            '"df": {"column": [...]}, exactly one of them.'
        )
    if rows is not None:
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRequest('/push: "rows" must be a list of objects.')
    else:
        if not isinstance(df, dict) or not all(isinstance(v, list) for v in df.values()):
            raise BadRequest('/push: "df" must map each column name to a list of values.')
        lengths = {k: len(v) for k, v in df.items()}
        if len(set(lengths.values())) > 1:
            raise BadRequest(f'/push: the "df" columns differ in length ({lengths}).')
        names = list(df)
        rows = [dict(zip(names, vals, strict=True)) for vals in zip(*df.values(), strict=True)]
    if not rows:
        raise BadRequest("/push: no rows given.")
    if len(rows) > max_rows:
        raise RequestTooLarge(
            f"/push: {len(rows)} rows in one request; the limit is {max_rows} "
            "(server.max_push_rows). Split the push."
        )
    push_id = data.get("push_id")
    return PushRequest(name, rows, to, None if push_id is None else check_push_id(push_id))


def push_rows(
    store: FeatureStore,
    push_source_name: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    to: str = "online_and_offline",
    push_id: str | None = None,
) -> PushResult:
    """An in-process push (``FeatureStore.push``): the checks and idempotency of ``/push``.

    Datetime values are sent as ISO 8601 text, as the HTTP client does, so a push and its
    retry over either path have the same fingerprint.

    Example:
        >>> push_rows(store, "txn_push", rows, push_id="order-17").replayed  # doctest: +SKIP
        False
    """
    from datetime import UTC

    body: dict[str, Any] = {
        "push_source_name": push_source_name,
        "rows": [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            for row in rows
        ],
        "to": to,
    }
    if push_id is not None:
        body["push_id"] = push_id
    request = parse_push_request(body, max_rows=max(len(body["rows"]), 1))
    plan = resolve_push_plan(store.snapshot(), push_source_name, repo_root=store.repo_path)
    return apply_push(store, plan, request, now=datetime.now(UTC))


def resolve_push_plan(
    snapshot: RegistrySnapshot, push_source_name: str, *, repo_root: Any
) -> PushPlan:
    """Every live view version fed by ``push_source_name``, and the offline append target."""
    targets: list[PushTarget] = []
    known: set[str] = set()
    source: PushSource | None = None
    for (kind, _), records in sorted(snapshot.versions.items()):
        if kind is not ObjectKind.FEATURE_VIEW:
            continue
        for record in records:
            spec_source = record.spec.get("source", {})
            if spec_source.get("type") != "push":
                continue
            known.add(spec_source["name"])
            if spec_source["name"] != push_source_name or record.state not in _LIVE:
                continue
            view = FeatureView.from_dict(record.spec)
            assert isinstance(view.source, PushSource)
            source = view.source
            table = ViewTable.from_view(view, project=snapshot.project, version=record.version)
            targets.append(PushTarget(view, record.version, table))
    if source is None:
        if push_source_name in known:
            raise PushSourceNotFound(
                f"Push source {push_source_name!r} feeds no pending or serving view version; "
                "apply or promote a view that reads from it."
            )
        raise PushSourceNotFound(
            f"Unknown push source {push_source_name!r}.{did_you_mean(push_source_name, known)}"
            f" Push sources: {', '.join(sorted(known)) or 'none'}."
        )
    newest = max(targets, key=lambda t: t.version)
    offline = ViewReadSpec.from_view(newest.view, version=newest.version, repo_root=repo_root)
    batch = source.batch_source
    renames = {batch.timestamp_field: EVENT_TIMESTAMP}
    if batch.created_timestamp_field is not None:
        renames[batch.created_timestamp_field] = CREATED_TIMESTAMP
    renames.update(batch.field_mapping)
    return PushPlan(source, tuple(targets), offline, renames)


def _column(name: str, values: list[Any], kind: str | None) -> pa.Array:
    import pyarrow as pa

    if kind == "timestamp":
        return pa.array(
            [None if v is None else parse_timestamp(v, what=f"column {name!r}") for v in values],
            pa.timestamp("us", tz="UTC"),
        )
    if kind == "bytes":
        try:
            decoded = [None if v is None else base64.b64decode(v, validate=True) for v in values]
        except (TypeError, ValueError):
            raise BadRequest(
                f"/push: column {name!r} holds bytes; send them base64-encoded."
            ) from None
        return pa.array(decoded, pa.binary())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed JSON types: as text, so validation casts each value and names the bad ones.
        return pa.array(
            [
                None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
                for v in values
            ],
            pa.string(),
        )


def rows_to_table(plan: PushPlan, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> pa.Table:
    """The pushed rows as an Arrow table in canonical column names, plus a row number."""
    import pyarrow as pa

    kinds: dict[str, str] = {EVENT_TIMESTAMP: "timestamp", CREATED_TIMESTAMP: "timestamp"}
    for target in plan.targets:
        for name, dtype in (*target.table.join_keys, *target.table.features):
            kinds[name] = dtype.kind
    names: list[str] = []
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    columns: dict[str, pa.Array] = {}
    for raw in names:
        name = plan.renames.get(raw, raw)
        columns[name] = _column(name, [row.get(raw) for row in rows], kinds.get(name))
    if CREATED_TIMESTAMP not in columns:
        columns[CREATED_TIMESTAMP] = pa.array([now] * len(rows), pa.timestamp("us", tz="UTC"))
    columns[_ROW] = pa.array(range(len(rows)), pa.int64())
    return pa.table(columns)


def apply_push(
    store: FeatureStore, plan: PushPlan, request: PushRequest, *, now: datetime
) -> PushResult:
    """Apply one push, at most once per push id (see the module doc).

    ``now`` is the time of receipt if this push id is new; a retry reuses the first one.

    Example:
        >>> request = PushRequest("txn_push", rows, "online")  # doctest: +SKIP
        >>> apply_push(store, plan, request, now=now).push_id  # doctest: +SKIP
        '5f0c...'
    """
    # Imported here: push_stream builds on this module's plan and result types.
    from parity.serve.push_stream import publish_push, stream_feed

    feed = stream_feed(plan, store.config.server.push.streams)
    if feed is not None:
        return publish_push(store, plan, request, feed, now=now)
    push_id = request.push_id or new_push_id()
    source = plan.source.name
    offline = request.to in ("offline", "online_and_offline")
    online = request.to in ("online", "online_and_offline")
    if offline and plan.offline.source.format != "delta":
        raise SchemaMismatch(
            f"Push source {source!r} keeps its rows in Parquet at "
            f"{plan.source.batch_source.path!r}; parity appends only to Delta tables. Declare "
            'its batch_source as DeltaSource(...), or push with "to": "online".'
        )
    print_ = fingerprint(source, request.to, request.rows)
    ledger = None
    if online:
        retention = store.config.server.push.idempotency_retention
        ledger = PushLedger(store.online_store, project=store.project, retention=retention, now=now)
    # The ledger read is the online probe: 503 before anything is written if the store is down.
    entry = None if ledger is None else ledger.lookup(source, push_id)
    if entry is not None:
        entry.identity.require_same(print_, push_source=source)
        if entry.result is not None:
            return PushResult.from_dict(entry.result, replayed=True)
    # One snapshot of the batch table serves the check and the append (no reloads).
    delta = open_delta(plan.offline.source.path) if offline else None
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
        result = _write_push(
            store, plan, table, identity, offline=offline, online=online, delta=delta
        )
    except _CommittedElsewhere as raced:
        # Lost a race with the same push id: continue as a retry of the winner's attempt.
        raced.identity.require_same(print_, push_source=source)
        identity, replayed = raced.identity, True
        table = rows_to_table(plan, request.rows, now=identity.received_at)
        result = _write_push(store, plan, table, identity, offline=offline, online=online)
    result = dataclasses.replace(result, replayed=replayed)
    if ledger is not None:
        ledger.finish(source, identity, dataclasses.replace(result, replayed=False).to_dict())
    return result


def _write_push(
    store: FeatureStore,
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
        check_push_quality(
            store, target.view, table, version=target.version, validation=result, now=now
        )
        indices, reasons = [], []
        for index, reason in zip(
            result.rejected.column(_ROW).to_pylist(),
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
    original = table.drop_columns([_ROW])
    for target, indices, reasons in per_target:
        if indices:
            spec = ViewReadSpec.from_view(
                target.view, version=target.version, repo_root=store.repo_path
            )
            quarantine(
                spec,
                original.take(pa.array(indices, pa.int64())),
                pa.array(reasons, pa.string()),
                operation="push",
                root=_quarantine_root(store),
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
                outcome = store.online_store.write(target.table, typed[target.ref])
                result_online[target.ref] = {"written": outcome.written, "skipped": outcome.skipped}
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


def _quarantine_root(store: FeatureStore) -> Any:
    return store.offline_engine.offline_path / "quarantine"  # type: ignore[attr-defined]


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
    version = append_once(
        path,
        rows,
        transactions=offline_transactions(identity),
        metadata={COMMIT_KEY: identity.push_id},
        table=delta,
    )
    committed_before = version is None
    if committed_before:
        committed = committed_identity(path, identity.push_id)
        if committed is not None and committed != identity:
            raise _CommittedElsewhere(committed)
        version = commit_with_metadata(path, COMMIT_KEY, identity.push_id)
    return {
        "table_path": path,
        "table_version": version,
        "rows_written": rows.num_rows,
        "committed_before": committed_before,
    }
