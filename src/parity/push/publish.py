"""Pushes to aggregation views: raw events published to the views' stream.

An aggregation view's online values are computed by its stream processors (``parity
stream run``) from raw events, and the stream's offline appender appends those events to
the source's Delta table exactly once per stream position. So a push whose source feeds
live aggregation view versions writes neither store itself: it checks each row as the
processors would decode it (:func:`parity.stream.publish.route_events`), publishes the
accepted rows to the stream configured for the push source (``server.push.streams``,
which must match the processors' ``--transport/--url/--stream/--partitions``), on the
partition of their entity key, and reports ``streams: {stream: events published}``.

Each event carries the event id ``{push_id}:{row index}`` (in the configured
``id_field``). A retry of a completed push is answered from the push ledger and publishes
nothing; a retry of an interrupted one publishes again, and the processors recognise the
ids: the state counts each event once and only new events reach the offline spool, so the
Delta table holds each pushed event once (within the processors' allowed lateness: a
retry later than that is dropped as late, never counted twice).

Example:
    >>> feed = stream_feed(plan, settings.config.streams)  # doctest: +SKIP
    >>> publish_push(plan, request, feed, online=online, settings=settings,
    ...              now=now).streams  # doctest: +SKIP
    {'txns': 2}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from parity.errors import OnlineStoreUnavailable, SchemaMismatch
from parity.offline.base import ViewReadSpec
from parity.online.base import OnlineStore
from parity.push.config import PushSettings, PushStreamConfig
from parity.push.ledger import (
    APP_PREFIX,
    PushIdentity,
    PushLedger,
    fingerprint,
    new_push_id,
)
from parity.push.plan import PushPlan
from parity.push.request import PushRequest, PushResult
from parity.stream.events import EventSchema
from parity.stream.publish import open_publisher, route_events, transport_errors


def stream_feed(plan: PushPlan, streams: Mapping[str, PushStreamConfig]) -> PushStreamConfig | None:
    """The stream a push is published to, None for a push of plain views (written directly).

    A push source that feeds a live aggregation view version needs a stream
    (``server.push.streams.<source>``): the view's values are computed by its processors
    from raw events, and written as feature values the rows would serve wrong aggregates.
    It must feed only aggregation views: the stream's offline appender keeps only their
    input columns, so a plain view's columns would be lost offline, and appending the rows
    in the push too would hold each event twice. Refused pushes write nothing.

    Example:
        >>> stream_feed(plan, {}) is None  # doctest: +SKIP
        True
    """
    refs = [target.ref for target in plan.targets if target.aggregates]
    if not refs:
        return None
    source = plan.source.name
    plain = [target.ref for target in plan.targets if not target.aggregates]
    if plain:
        raise SchemaMismatch(
            f"Push source {source!r} feeds the aggregation view version(s) {', '.join(refs)} "
            f"and the plain view version(s) {', '.join(plain)}; this push was refused and "
            "nothing was written (the aggregation views' events go through a stream whose "
            "offline appender keeps only their input columns, so the plain views' columns "
            "would be lost offline, or appended twice). Fix: give the plain and the "
            "aggregation views separate push sources."
        )
    feed = streams.get(source)
    if feed is not None:
        return feed
    views = sorted({ref.split("@", 1)[0] for ref in refs})
    run = " and ".join(f"'parity stream run {view} ...'" for view in views)
    raise SchemaMismatch(
        f"Push source {source!r} feeds the aggregation view version(s) {', '.join(refs)}, "
        "whose values the stream processor computes from raw events, and no stream is "
        f"configured for {source!r}, so this push was refused and nothing was written "
        "(written as feature values, raw events would serve wrong aggregates). Fix: set "
        f"server.push.streams.{source} in parity.yaml (transport, url, stream, partitions: "
        f"those of {run}), or publish these events to the stream that {run} consumes."
    )


def publish_push(
    plan: PushPlan,
    request: PushRequest,
    feed: PushStreamConfig,
    *,
    online: OnlineStore,
    settings: PushSettings,
    now: datetime,
) -> PushResult:
    """Publish a push's valid rows to ``feed``, at most once per completed push id.

    Example:
        >>> publish_push(plan, request, feed, online=online, settings=settings,
        ...              now=now).rows_written  # doctest: +SKIP
        2
    """
    source = plan.source.name
    if request.to != "online_and_offline":
        raise SchemaMismatch(
            f"Push source {source!r} feeds aggregation views through stream "
            f"{feed.stream!r}, whose processors write online and whose appender writes "
            f'offline; "to": {request.to!r} cannot be honoured, so nothing was written. '
            'Push with "to": "online_and_offline" (the default).'
        )
    push_id = request.push_id or new_push_id()
    print_ = fingerprint(source, request.to, request.rows)
    retention = settings.config.idempotency_retention
    ledger = PushLedger(online, project=settings.project, retention=retention, now=now)
    entry = ledger.lookup(source, push_id)
    if entry is not None:
        entry.identity.require_same(print_, push_source=source)
        if entry.result is not None:
            return PushResult.from_dict(entry.result, replayed=True)
    identity = PushIdentity(push_id, print_, now) if entry is None else entry.identity
    if entry is None:
        ledger.start(source, identity)
    schemas = [
        EventSchema.from_spec(
            ViewReadSpec.from_view(
                t.view, version=t.version, repo_root=settings.repo_root, storage=settings.storage
            ),
            id_field=feed.id_field,
        )
        for t in plan.targets
    ]
    events = [{**row, feed.id_field: f"{push_id}:{i}"} for i, row in enumerate(request.rows)]
    routed = route_events(schemas, events, partitions=feed.partitions)
    if routed.rejected:
        _quarantine_rejected(settings, plan, events, routed.rejected, identity)
    _publish(feed, routed.partitions, push_id=push_id)
    count = len(request.rows)
    result = PushResult(
        push_source=source,
        rows_received=count,
        rows_written=routed.published,
        rows_rejected=count - routed.published,
        rejected=[
            {"row": row, "view": plan.targets[number].ref, "reason": reason}
            for row, number, reason in routed.rejected
        ],
        push_id=push_id,
        replayed=entry is not None,
        streams={feed.stream: routed.published},
    )
    ledger.finish(source, identity, dataclasses.replace(result, replayed=False).to_dict())
    return result


def _publish(
    feed: PushStreamConfig, partitions: Mapping[int, list[bytes]], *, push_id: str
) -> None:
    """Publish per partition; a transport failure is transient (503): retrying is safe."""
    try:
        transport = open_publisher(feed.transport, feed.url, stream=feed.stream)
        try:
            for partition, payloads in sorted(partitions.items()):
                transport.publish(partition, payloads)
        finally:
            transport.close()
    except transport_errors(feed.transport) as exc:
        raise OnlineStoreUnavailable(
            f"Stream {feed.stream!r} ({feed.transport} at {feed.url}) failed while publishing "
            f"push {push_id!r}: {type(exc).__name__}: {exc}. Some events may be published; "
            "retry the push with the same push_id (the processors count each event once)."
        ) from exc


def _quarantine_rejected(
    settings: PushSettings,
    plan: PushPlan,
    events: list[dict[str, Any]],
    rejected: list[tuple[int, int, str]],
    identity: PushIdentity,
) -> None:
    """Rejected rows go to each view version's quarantine table, once per push id.

    The rows are kept as the JSON the caller sent (a rejected row may not fit the view's
    types), as the stream processor keeps the messages it rejects.
    """
    import orjson
    import pyarrow as pa

    from parity.offline.delta_writes import quarantine

    by_target: dict[int, list[tuple[int, str]]] = {}
    for row, number, reason in rejected:
        by_target.setdefault(number, []).append((row, reason))
    root = settings.quarantine_root
    for number, items in sorted(by_target.items()):
        target = plan.targets[number]
        spec = ViewReadSpec.from_view(
            target.view,
            version=target.version,
            repo_root=settings.repo_root,
            storage=settings.storage,
        )
        rows = pa.table(
            {
                "push_id": [identity.push_id] * len(items),
                "row": pa.array([row for row, _ in items], pa.int64()),
                "message": [orjson.dumps(events[row], default=str).decode() for row, _ in items],
            }
        )
        quarantine(
            spec,
            rows,
            pa.array([reason for _, reason in items], pa.string()),
            operation="push",
            root=root,
            # A retried push quarantines nothing again (one record per push and version).
            transactions={f"{APP_PREFIX}{identity.push_id}/v{target.version}": 1},
        )
