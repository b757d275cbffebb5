"""Idempotency records of pushes: push id, fingerprint of the rows, time of receipt.

A push is identified by its ``push_id`` (the client's idempotency key, or one the server
generates). What a retry needs to reproduce the first attempt bit for bit is kept beside
each write it vouches for:

- offline: two Delta application transactions committed in the same commit as the rows
  (:func:`offline_transactions`): ``parity.push/<id>`` records the time the push was
  received (UTC microseconds; it is the default ``created_timestamp`` of the rows) and
  ``parity.push/<id>/rows`` the fingerprint of the request. The rows and the record are one
  atomic commit, so they can never disagree after a crash.
- online: one row per push in the online store's ``parity_push_ledger`` table
  (:class:`PushLedger`), written before anything else (it pins the time of receipt for
  ``to: "online"`` pushes and doubles as the online store probe) and again once every
  online write is done, with the answer of the push. A retry of a completed push returns
  that answer and writes nothing. The ledger rotates over time buckets and forgets a push
  after ``server.push.idempotency_retention`` (at most twice that); a later retry is
  still appended at most once offline, by the Delta record.

Example:
    >>> rows = fingerprint("txn_push", "online", [{"a": 1}])
    >>> ident = PushIdentity("p1", rows, now)  # doctest: +SKIP
    >>> offline_transactions(ident)  # doctest: +SKIP
    {'parity.push/p1': 1795512030840123, 'parity.push/p1/rows': 3142...}
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from parity.errors import BadRequest, PushIdConflict
from parity.online.base import OnlineRow, OnlineStore, ReadRequest, ViewTable

if TYPE_CHECKING:
    from deltalake import DeltaTable

APP_PREFIX = "parity.push/"
LEDGER_VIEW = "parity_push_ledger"
ROTATION_VIEW = "parity_push_ledger_rotation"
COMMIT_KEY = "parity.push_id"
"""Commit-info key of the Delta commit that appended a push's rows."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_STARTED_US = 0
_DONE_US = 1
# The version of the single, unbounded ledger table written before buckets existed.
_LEGACY_VERSION = 1


def new_push_id() -> str:
    """A fresh push id (a random UUID in hex).

    Example:
        >>> len(new_push_id())
        32
    """
    return uuid.uuid4().hex


def check_push_id(value: Any) -> str:
    """``value`` if it is a usable push id (1-128 of ``A-Z a-z 0-9 . _ : -``).

    Example:
        >>> check_push_id("order-17:retry-safe")
        'order-17:retry-safe'
    """
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise BadRequest(
            f"/push: push_id {value!r} is not a usable idempotency key: use 1 to 128 of the "
            "characters A-Z a-z 0-9 . _ : - (a UUID works), or leave it out to get one."
        )
    return value


def fingerprint(push_source: str, to: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """63 bits of SHA-256 over the push source, mode and rows (keys sorted), as an int.

    Two requests carry the same push exactly when their fingerprints are equal; the int
    fits a Delta transaction version.

    Example:
        >>> fingerprint("s", "online", [{"a": 1, "b": 2}]) == fingerprint(
        ...     "s", "online", [{"b": 2, "a": 1}])
        True
    """
    try:
        body = orjson.dumps([push_source, to, list(rows)], option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # An integer past 64 bits (refused later, by name): the exact text instead.
        body = json.dumps([push_source, to, list(rows)], sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(body).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class PushIdentity:
    """What makes a retry bit-identical: the id, the rows' fingerprint, the time of receipt.

    Example:
        >>> PushIdentity("p1", 7, datetime(2026, 1, 1, tzinfo=UTC)).received_us
        1767225600000000
    """

    push_id: str
    fingerprint: int
    received_at: datetime

    @property
    def received_us(self) -> int:
        """The time of receipt in UTC microseconds."""
        delta = self.received_at - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def require_same(self, other: int, *, push_source: str) -> None:
        """Raise :class:`PushIdConflict` unless ``other`` is this push's fingerprint."""
        if other != self.fingerprint:
            raise PushIdConflict(
                f"push_id {self.push_id!r} was already used for a different push to "
                f"{push_source!r} (received {self.received_at.isoformat()}) with other rows "
                "or another 'to'. A push id names one push: retry with the very same body, or "
                "use a new push_id for new rows."
            )


def at_us(micros: int) -> datetime:
    """UTC microseconds as an aware datetime.

    Example:
        >>> at_us(0).isoformat()
        '1970-01-01T00:00:00+00:00'
    """
    return _EPOCH + timedelta(microseconds=micros)


def offline_transactions(identity: PushIdentity) -> dict[str, int]:
    """The Delta application transactions that record a push in its offline commit.

    Example:
        >>> sorted(offline_transactions(PushIdentity("p1", 7, at_us(5))).items())
        [('parity.push/p1', 5), ('parity.push/p1/rows', 7)]
    """
    app_id = APP_PREFIX + identity.push_id
    return {app_id: identity.received_us, f"{app_id}/rows": identity.fingerprint}


def committed_identity(table: str | DeltaTable | None, push_id: str) -> PushIdentity | None:
    """The identity recorded in a Delta table (path or open) if that push was committed.

    Example:
        >>> committed_identity("data/txn_events", "p1") is None  # doctest: +SKIP
        True
    """
    from parity.offline.delta_writes import committed_versions

    app_id = APP_PREFIX + push_id
    found = committed_versions(table, [app_id, f"{app_id}/rows"])
    received, rows = found[app_id], found[f"{app_id}/rows"]
    if received is None or rows is None:
        return None
    return PushIdentity(push_id, rows, at_us(received))


@dataclass(frozen=True)
class LedgerEntry:
    """A push as the online ledger knows it; ``result`` is set once the push completed."""

    identity: PushIdentity
    result: dict[str, Any] | None


class PushLedger:
    """The ``parity_push_ledger`` of an online store: one row per push, kept for a bounded time.

    The ledger rotates over time buckets as long as the retention: bucket ``k`` covers
    ``[k * retention, (k + 1) * retention)`` from the epoch and is the view version whose
    number is the bucket's start in epoch seconds (so two retentions never share a
    version). A push is looked up in the bucket of its time of receipt and the one before,
    in one ``read``; it is written to its own bucket. A push is therefore remembered for at
    least ``retention`` and at most twice that.

    Buckets are dropped with ``delete_table`` by the first push that writes to a new bucket,
    whichever process it runs in: a rotation row (``parity_push_ledger_rotation``, read in
    the same ``read`` as the lookup) names the two buckets that may hold rows; when the
    current bucket is not one of them, the others are dropped and the row is rewritten. Its
    event time is the time of receipt, so a process with a late clock never rolls it back.
    Without a rotation row (a new store, or one upgraded from the single-table ledger) the
    old unbounded ledger, version 1, is dropped.

    One instance serves one push (its time of receipt is fixed): :meth:`lookup` first,
    then :meth:`start` and :meth:`finish`. Within a bucket, rows are ordered by the online
    store's write rule: the "done" row has a later event time than the "started" one, so it
    always wins, whatever order writes land in.

    Example:
        >>> ledger = PushLedger(store.online_store, project="fraud",
        ...                     retention=timedelta(days=7), now=now)  # doctest: +SKIP
        >>> ledger.lookup("txn_push", "p1") is None  # doctest: +SKIP
        True
    """

    def __init__(
        self, store: OnlineStore, *, project: str, retention: timedelta, now: datetime
    ) -> None:
        self._store = store
        self._project = project
        self._now = now
        length = max(int(retention.total_seconds()), 1)
        start = bucket_start(now, length)
        self.table = ledger_table(project, start)
        self.previous = ledger_table(project, start - length)
        self.rotation = ViewTable.build(
            project,
            ROTATION_VIEW,
            1,
            join_keys={"ledger": "string"},
            features={"current": "int64", "previous": "int64"},
        )
        # Set by lookup: the bucket versions to drop before the first write, if any.
        self._stale: tuple[int, ...] | None = None

    def lookup(self, push_source: str, push_id: str) -> LedgerEntry | None:
        """The entry of ``push_id`` in this bucket or the previous one (raises
        ``OnlineStoreUnavailable`` if the store is down)."""
        key = (push_source, push_id)
        current, previous, rotation = self._store.read(
            [
                ReadRequest(self.table, [key]),
                ReadRequest(self.previous, [key]),
                ReadRequest(self.rotation, [(LEDGER_VIEW,)]),
            ]
        )
        self._stale = self._stale_buckets(rotation[0])
        row = current[0] if current[0] is not None else previous[0]
        if row is None:
            return None
        fingerprint_, received_us, result = row.values
        identity = PushIdentity(push_id, int(fingerprint_), at_us(int(received_us)))
        return LedgerEntry(identity, None if result is None else orjson.loads(result))

    def start(self, push_source: str, identity: PushIdentity) -> None:
        """Record that ``identity`` is being applied (before anything else is written)."""
        self._write(push_source, identity, None, _STARTED_US)

    def finish(self, push_source: str, identity: PushIdentity, result: Mapping[str, Any]) -> None:
        """Record that ``identity`` completed with answer ``result``."""
        self._write(push_source, identity, orjson.dumps(dict(result)).decode(), _DONE_US)

    def _stale_buckets(self, rotation: OnlineRow | None) -> tuple[int, ...] | None:
        if rotation is None:
            return (_LEGACY_VERSION,)
        live = {int(v) for v in rotation.values if v is not None}
        if self.table.version in live:
            return None
        return tuple(sorted(live - {self.table.version, self.previous.version}))

    def _rotate(self, stale: tuple[int, ...]) -> None:
        import pyarrow as pa

        for version in stale:
            self._store.delete_table(ledger_table(self._project, version))
        row = pa.table(
            {
                "ledger": pa.array([LEDGER_VIEW], pa.string()),
                "current": pa.array([self.table.version], pa.int64()),
                "previous": pa.array([self.previous.version], pa.int64()),
                "event_timestamp": pa.array([self._now], pa.timestamp("us", tz="UTC")),
            }
        )
        self._store.write(self.rotation, row)

    def _write(
        self, push_source: str, identity: PushIdentity, result: str | None, stage_us: int
    ) -> None:
        import pyarrow as pa

        if self._stale is not None:
            # Dropped before the first row lands in the new bucket: a crash in between
            # leaves the rotation row as it was, and the next push drops them again.
            self._rotate(self._stale)
            self._stale = None
        row = pa.table(
            {
                "push_source": pa.array([push_source], pa.string()),
                "push_id": pa.array([identity.push_id], pa.string()),
                "fingerprint": pa.array([identity.fingerprint], pa.int64()),
                "received_us": pa.array([identity.received_us], pa.int64()),
                "result": pa.array([result], pa.string()),
                "event_timestamp": pa.array([at_us(stage_us)], pa.timestamp("us", tz="UTC")),
            }
        )
        self._store.write(self.table, row)


def bucket_start(moment: datetime, length_seconds: int) -> int:
    """The start, in epoch seconds, of the ledger bucket holding ``moment``.

    Example:
        >>> bucket_start(datetime(1970, 1, 8, 1, tzinfo=UTC), 7 * 86_400)
        604800
    """
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return seconds // length_seconds * length_seconds


def ledger_table(project: str, version: int) -> ViewTable:
    """The ledger table of one bucket (``version``: the bucket start in epoch seconds).

    Example:
        >>> ledger_table("fraud", 604800).namespace
        'fraud:parity_push_ledger:v604800'
    """
    return ViewTable.build(
        project,
        LEDGER_VIEW,
        version,
        join_keys={"push_source": "string", "push_id": "string"},
        features={"fingerprint": "int64", "received_us": "int64", "result": "string"},
    )
