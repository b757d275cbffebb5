"""Pushes are applied exactly once per push id, whatever fails between the two stores.

Failures are real: a private redis-server stopped between the offline commit and the
online write, a SQLite file locked by another connection, a process killed with SIGKILL.
The wrappers of ``online_faults`` only choose the moment.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from parity import FeatureStore
from parity.config import load_config
from parity.errors import OnlineStoreUnavailable, PushIdConflict
from parity.offline.delta_writes import append_once
from parity.online.base import ReadRequest, ViewTable
from parity.push.ledger import (
    COMMIT_KEY,
    LEDGER_VIEW,
    PushIdentity,
    at_us,
    bucket_start,
    fingerprint,
    ledger_table,
    offline_transactions,
)
from parity.push.request import PushResult, parse_push_request
from parity.scaffold import init_repo

from .conftest import RedisServer, free_port
from .online_faults import Delegating, FaultBeforeFirstWrite, RecordingWrites

# The batch source keeps a created timestamp, so offline and online can be compared whole.
PUSH_VIEWS = """
from datetime import timedelta

from features import user
from parity import DeltaSource, FeatureView, Field, Float64, Int64, PushSource

txn_push = PushSource(
    "txn_push",
    batch_source=DeltaSource(
        "data/txn_events", timestamp_field="event_timestamp", created_timestamp_field="created_at"
    ),
)
user_live = FeatureView(
    "user_live",
    entities=[user],
    schema=[Field("last_amount", Float64, nullable=False, min_value=0), Field("txn_count", Int64)],
    source=txn_push,
    ttl=timedelta(days=1),
)
"""
EVENT = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
ROWS: list[dict[str, Any]] = [
    {"user_id": 1, "last_amount": 10.5, "txn_count": 1, "event_timestamp": EVENT.isoformat()},
    {"user_id": 2, "last_amount": 20.0, "txn_count": 2, "event_timestamp": EVENT.isoformat()},
    # below min_value 0: quarantined, written nowhere
    {"user_id": 3, "last_amount": -1.0, "txn_count": 3, "event_timestamp": EVENT.isoformat()},
]
ACCEPTED = [1, 2]
HERE = Path(__file__).parent


def make_push_repo(root: Path, environ: dict[str, str]) -> FeatureStore:
    init_repo(root, project="t", rows=100)
    (root / "push_features.py").write_text(PUSH_VIEWS)
    store = FeatureStore(root, config=load_config(root, environ=environ))
    store.apply(message="push view")
    store.promote("user_live@v1", message="test", force=True)
    return store


class Repo:
    """A push repository on one online backend, with a way to make that backend fail."""

    def __init__(
        self,
        store: FeatureStore,
        environ: dict[str, str],
        break_store: Callable[[], None],
        mend_store: Callable[[], None],
    ) -> None:
        self.store = store
        self.environ = environ
        self.break_store = break_store
        self.mend_store = mend_store

    @property
    def events(self) -> str:
        return str(self.store.repo_path / "data" / "txn_events")

    def offline(self) -> list[dict[str, Any]]:
        if not DeltaTable.is_deltatable(self.events):
            return []
        rows = DeltaTable(self.events).to_pyarrow_table().to_pylist()
        return sorted(rows, key=lambda r: r["user_id"])

    def offline_version(self) -> int | None:
        return DeltaTable(self.events).version() if DeltaTable.is_deltatable(self.events) else None

    def quarantined(self) -> int:
        path = str(self.store.repo_path / "data" / "offline" / "quarantine" / "user_live")
        if not DeltaTable.is_deltatable(path):
            return 0
        return DeltaTable(path).to_pyarrow_table().num_rows

    def online(self, users: list[int]) -> list[Any]:
        """(last_amount, txn_count, event time, created time) per user, None if absent."""
        table = ViewTable.from_view(
            self.store.get_feature_view("user_live@v1"), project="t", version=1
        )
        [rows] = self.store.online_store.read([ReadRequest(table, [(u,) for u in users])])
        return [
            None if r is None else (*r.values, r.event_timestamp, r.created_timestamp)  # type: ignore[misc]
            for r in rows
        ]


def as_online(offline_rows: list[dict[str, Any]]) -> list[Any]:
    return [
        (r["last_amount"], r["txn_count"], r["event_timestamp"], r["created_at"])
        for r in offline_rows
    ]


@pytest.fixture(params=["sqlite", "redis"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repo]:
    """SQLite (failure: another connection holds the write lock) or a private Redis
    (failure: the server is stopped; mending restarts it empty)."""
    if request.param == "sqlite":
        environ = {"PARITY__ONLINE_STORE__BUSY_TIMEOUT_SECONDS": "0.2"}
        store = make_push_repo(tmp_path / "repo", environ)
        path = store.repo_path / "data" / "online.db"
        locker: list[sqlite3.Connection] = []

        def lock() -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            locker.append(conn)

        def unlock() -> None:
            while locker:
                conn = locker.pop()
                conn.execute("ROLLBACK")
                conn.close()

        yield Repo(store, environ, lock, unlock)
        unlock()
        store.close()
        return
    redis = RedisServer(free_port())
    redis.start()
    environ = {
        "PARITY__ONLINE_STORE__TYPE": "redis",
        "PARITY__ONLINE_STORE__URL": redis.url,
        "PARITY__ONLINE_STORE__KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "PARITY__ONLINE_STORE__TIMEOUT_SECONDS": "1",
    }
    store = make_push_repo(tmp_path / "repo", environ)
    yield Repo(store, environ, redis.stop, redis.start)
    store.close()
    redis.stop()


def test_retry_after_an_online_failure_between_the_writes_leaves_one_copy_and_online_equals_offline(
    repo: Repo,
) -> None:
    store = repo.store
    real = store.online_store
    store.online_store = FaultBeforeFirstWrite(real, "user_live", repo.break_store)  # type: ignore[misc]
    with pytest.raises(OnlineStoreUnavailable):
        store.push("txn_push", ROWS, push_id="p-between")
    # The offline half committed, the online half did not happen.
    committed = repo.offline()
    assert [r["user_id"] for r in committed] == ACCEPTED
    version = repo.offline_version()
    repo.mend_store()
    assert repo.online([1, 2]) == [None, None]

    retried = store.push("txn_push", ROWS, push_id="p-between")
    assert retried.replayed is True
    assert retried.offline is not None and retried.offline["committed_before"] is True
    assert retried.offline["table_version"] == version
    assert (retried.rows_written, retried.rows_rejected) == (2, 1)
    assert retried.online == {"user_live@v1": {"written": 2, "skipped": 0}}
    # Exactly one copy offline; online holds bit-identical rows (the first attempt's
    # created timestamp, not the retry's).
    assert repo.offline() == committed
    assert repo.offline_version() == version
    assert repo.online(ACCEPTED) == as_online(committed)
    assert repo.quarantined() == 1


def test_retry_of_a_completed_push_returns_the_original_answer_and_writes_nothing(
    repo: Repo,
) -> None:
    store = repo.store
    first = store.push("txn_push", ROWS, push_id="p-done")
    assert first.replayed is False and first.push_id == "p-done"
    before = (repo.offline(), repo.offline_version(), repo.quarantined(), repo.online(ACCEPTED))
    recorder = RecordingWrites(store.online_store)
    store.online_store = recorder  # type: ignore[misc]

    again = store.push("txn_push", ROWS, push_id="p-done")
    assert again.to_dict() == {**first.to_dict(), "replayed": True}
    assert recorder.written == []  # not even the ledger
    assert (
        repo.offline(),
        repo.offline_version(),
        repo.quarantined(),
        repo.online(ACCEPTED),
    ) == before


def test_reusing_a_push_id_for_other_rows_is_refused_and_writes_nothing(repo: Repo) -> None:
    store = repo.store
    store.push("txn_push", ROWS, push_id="p-reused")
    version = repo.offline_version()
    other = [{**ROWS[0], "last_amount": 99.0}]
    with pytest.raises(PushIdConflict, match="'p-reused' was already used for a different push"):
        store.push("txn_push", other, push_id="p-reused")
    with pytest.raises(PushIdConflict):
        store.push("txn_push", ROWS, push_id="p-reused", to="online")  # another mode
    # Known only offline (the online ledger never saw it): refused all the same.
    store.push("txn_push", ROWS, push_id="p-offline", to="offline")
    with pytest.raises(PushIdConflict):
        store.push("txn_push", other, push_id="p-offline", to="offline")
    assert repo.offline_version() == version + 1  # type: ignore[operator]
    assert repo.online([1])[0][0] == 10.5


def test_online_only_retry_reuses_the_first_created_timestamp(repo: Repo) -> None:
    store = repo.store
    real = store.online_store
    store.online_store = FaultBeforeFirstWrite(real, "user_live", repo.break_store)  # type: ignore[misc]
    before_first = datetime.now(UTC)
    with pytest.raises(OnlineStoreUnavailable):
        store.push("txn_push", ROWS, push_id="p-online", to="online")
    after_first = datetime.now(UTC)
    repo.mend_store()
    retried = store.push("txn_push", ROWS, push_id="p-online", to="online")
    assert retried.offline is None and repo.offline() == []
    [one, two] = repo.online(ACCEPTED)
    assert one[3] == two[3]
    if repo.environ.get("PARITY__ONLINE_STORE__TYPE") == "redis":
        # The restarted Redis lost the ledger row with everything else: a new first attempt.
        assert retried.replayed is False and one[3] >= after_first
    else:
        assert retried.replayed is True and before_first <= one[3] <= after_first


def test_a_push_that_is_never_retried_reaches_online_with_the_next_incremental_sync(
    repo: Repo,
) -> None:
    store = repo.store
    real = store.online_store
    store.online_store = FaultBeforeFirstWrite(real, "user_live", repo.break_store)  # type: ignore[misc]
    with pytest.raises(OnlineStoreUnavailable):
        store.push("txn_push", ROWS, push_id="p-abandoned")
    repo.mend_store()
    store.online_store = real  # type: ignore[misc]
    [report] = store.materialize_incremental(views=["user_live"])
    assert report.rows_written == 2, report
    assert repo.online(ACCEPTED) == as_online(repo.offline())


def test_losing_a_race_for_the_same_push_id_continues_as_a_retry_of_the_winner(
    repo: Repo,
) -> None:
    # Another server commits the very same push (its rows and its record, with its own time
    # of receipt) just after this one checked the Delta table and before it appends: at
    # this push's first online write, the ledger's "started" row.
    won_at = datetime.now(UTC) - timedelta(minutes=1)
    winner = PushIdentity("p-race", fingerprint("txn_push", "online_and_offline", ROWS), won_at)
    ts = pa.timestamp("us", tz="UTC")

    def other_server_commits() -> None:
        rows = pa.table(
            {
                "user_id": pa.array(ACCEPTED, pa.int64()),
                "event_timestamp": pa.array([EVENT, EVENT], ts),
                "created_at": pa.array([won_at, won_at], ts),
                "last_amount": [10.5, 20.0],
                "txn_count": pa.array([1, 2], pa.int64()),
            }
        )
        version = append_once(
            repo.events,
            rows,
            transactions=offline_transactions(winner),
            metadata={COMMIT_KEY: "p-race"},
        )
        assert version is not None

    store = repo.store
    store.online_store = FaultBeforeFirstWrite(  # type: ignore[misc]
        store.online_store, LEDGER_VIEW, other_server_commits
    )
    result = store.push("txn_push", ROWS, push_id="p-race")
    assert result.replayed is True
    assert result.offline is not None and result.offline["committed_before"] is True
    committed = repo.offline()
    assert [(r["user_id"], r["created_at"]) for r in committed] == [(1, won_at), (2, won_at)]
    assert repo.online(ACCEPTED) == as_online(committed)


KILLED = """
import sys

sys.path.insert(0, {here!r})
from online_faults import HangBeforeFirstWrite
from parity import FeatureStore
import orjson

store = FeatureStore({root!r})
store.online_store = HangBeforeFirstWrite(store.online_store, "user_live", "COMMITTED")
store.push("txn_push", orjson.loads({rows!r}), push_id="p-killed")
print("NOT KILLED", flush=True)
"""


def test_kill_9_between_the_offline_commit_and_the_online_writes_then_retry_converges(
    repo: Repo,
) -> None:
    script = KILLED.format(
        here=str(HERE), root=str(repo.store.repo_path), rows=orjson.dumps(ROWS).decode()
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, **repo.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        line = proc.stdout.readline() if ready else b""
        assert line.strip() == b"COMMITTED", (line, proc.stderr.read() if proc.stderr else b"")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    committed = repo.offline()
    assert [r["user_id"] for r in committed] == ACCEPTED
    assert repo.online(ACCEPTED) == [None, None]
    assert repo.quarantined() == 1

    retried = repo.store.push("txn_push", ROWS, push_id="p-killed")
    assert retried.replayed is True and retried.rows_written == 2
    assert repo.offline() == committed
    assert repo.online(ACCEPTED) == as_online(committed)
    assert repo.quarantined() == 1
    again = repo.store.push("txn_push", ROWS, push_id="p-killed")
    assert again.to_dict() == {**retried.to_dict(), "replayed": True}


# Bounded retention of the online ledger (server.push.idempotency_retention, 7 days by
# default): buckets of 7 days from the epoch, the first one starting after the real now so
# every row of ROWS is in the past of every controlled clock below.
WEEK = timedelta(days=7)
BOUNDARY = at_us(bucket_start(datetime.now(UTC), 7 * 86_400) * 1_000_000) + WEEK
BUCKET = int(BOUNDARY.timestamp())  # the ledger version of the bucket starting at BOUNDARY


OTHER = [{"user_id": 9, "last_amount": 1.0, "txn_count": 1, "event_timestamp": EVENT.isoformat()}]


def push_at(
    store: FeatureStore,
    now: datetime,
    push_id: str,
    *,
    to: str = "online_and_offline",
    rows: list[dict[str, Any]] = ROWS,
) -> PushResult:
    """A push received at ``now`` (the server's path, with a controlled clock)."""
    body = {"push_source_name": "txn_push", "rows": rows, "to": to, "push_id": push_id}
    request = parse_push_request(body, max_rows=100)
    plan = store.pusher.plan(store.snapshot(), "txn_push")
    return store.pusher.apply(plan, request, now=now)


def ledger_rows(repo: Repo) -> dict[int, int]:
    """Rows held per ledger bucket version, read from the backend itself (not via parity)."""
    prefix = f"t:{LEDGER_VIEW}:v"
    held: dict[int, int] = {}
    if repo.environ.get("PARITY__ONLINE_STORE__TYPE") == "redis":
        import redis

        client = redis.Redis.from_url(repo.environ["PARITY__ONLINE_STORE__URL"])
        try:
            skip = len(repo.environ["PARITY__ONLINE_STORE__KEY_PREFIX"]) + 1 + len(prefix)
            for key in client.scan_iter(
                match=f"{repo.environ['PARITY__ONLINE_STORE__KEY_PREFIX']}:{prefix}*"
            ):
                version = int(key[skip:].split(b":", 1)[0])
                held[version] = held.get(version, 0) + 1
        finally:
            client.close()
        return held
    conn = sqlite3.connect(repo.store.repo_path / "data" / "online.db")
    try:
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", (prefix + "%",)
        ).fetchall()
        for (name,) in names:
            (count,) = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            held[int(name[len(prefix) :])] = count
    finally:
        conn.close()
    return held


class CountingDeletes(Delegating):
    """Remembers the namespace of every ``delete_table`` that reached the real store."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.deleted: list[str] = []

    def delete_table(self, table: ViewTable, /) -> int:
        self.deleted.append(table.namespace)
        return self.inner.delete_table(table)


def test_a_retry_inside_the_retention_is_answered_from_the_previous_bucket_at_its_boundary(
    repo: Repo,
) -> None:
    store = repo.store
    last_instant = BOUNDARY - timedelta(microseconds=1)
    first = push_at(store, last_instant, "p-edge")
    second = push_at(store, BOUNDARY, "p-start", to="online")
    recorder = RecordingWrites(store.online_store)
    store.online_store = recorder  # type: ignore[misc]
    # One microsecond later, in the next bucket; and exactly one retention later.
    again = push_at(store, BOUNDARY, "p-edge")
    again_online = push_at(store, BOUNDARY + WEEK, "p-start", to="online")
    assert again.to_dict() == {**first.to_dict(), "replayed": True}
    assert again_online.to_dict() == {**second.to_dict(), "replayed": True}
    assert recorder.written == []
    assert ledger_rows(repo) == {BUCKET - 7 * 86_400: 1, BUCKET: 1}


def test_buckets_older_than_the_previous_one_are_dropped_once_by_the_first_push_of_a_bucket(
    repo: Repo,
) -> None:
    store = repo.store
    # A row of the unbounded ledger of older versions: dropped by the first push.
    legacy = ledger_table("t", 1)
    store.online_store.write(
        legacy,
        pa.table(
            {
                "push_source": ["txn_push"],
                "push_id": ["p-legacy"],
                "fingerprint": pa.array([1], pa.int64()),
                "received_us": pa.array([1], pa.int64()),
                "result": pa.array([None], pa.string()),
                "event_timestamp": pa.array([EVENT], pa.timestamp("us", tz="UTC")),
            }
        ),
    )
    counting = CountingDeletes(store.online_store)
    store.online_store = counting  # type: ignore[misc]
    push_at(store, BOUNDARY, "p-a")
    assert counting.deleted == [legacy.namespace]
    push_at(store, BOUNDARY + timedelta(days=1), "p-a2", to="online")
    push_at(store, BOUNDARY + WEEK, "p-b")
    assert ledger_rows(repo) == {BUCKET: 2, BUCKET + 7 * 86_400: 1}
    counting.deleted.clear()
    push_at(store, BOUNDARY + 2 * WEEK, "p-c")
    push_at(store, BOUNDARY + 2 * WEEK + timedelta(hours=1), "p-c2")
    # One drop per bucket change, whatever the number of pushes: the bucket of p-a is gone.
    assert counting.deleted == [ledger_table("t", BUCKET).namespace]
    assert ledger_rows(repo) == {BUCKET + 7 * 86_400: 1, BUCKET + 14 * 86_400: 2}


def test_a_retry_after_the_retention_appends_nothing_offline_and_online_converges(
    repo: Repo,
) -> None:
    store = repo.store
    first = push_at(store, BOUNDARY, "p-late")
    committed, version = repo.offline(), repo.offline_version()
    push_at(store, BOUNDARY + 2 * WEEK, "p-other", to="online", rows=OTHER)  # drops p-late's bucket
    assert BUCKET not in ledger_rows(repo)

    late = push_at(store, BOUNDARY + 2 * WEEK + timedelta(hours=1), "p-late")
    # Answered from the Delta record: same time of receipt, nothing appended twice.
    assert late.replayed is True and late.rows_written == first.rows_written == 2
    assert late.offline is not None and late.offline["committed_before"] is True
    assert late.offline["table_version"] == first.offline["table_version"]  # type: ignore[index]
    assert late.online == {"user_live@v1": {"written": 0, "skipped": 2}}
    assert repo.offline() == committed and repo.offline_version() == version
    assert repo.online(ACCEPTED) == as_online(committed)
    assert repo.quarantined() == 1
    # Remembered again online, in the current bucket: the next retry writes nothing.
    recorder = RecordingWrites(store.online_store)
    store.online_store = recorder  # type: ignore[misc]
    again = push_at(store, BOUNDARY + 2 * WEEK + timedelta(hours=2), "p-late")
    assert again.to_dict() == {**late.to_dict(), "replayed": True}
    assert recorder.written == []


def test_an_online_only_retry_after_the_retention_is_a_new_push_with_a_new_created_time(
    repo: Repo,
) -> None:
    store = repo.store
    push_at(store, BOUNDARY, "p-online-late", to="online")
    [before, _] = repo.online(ACCEPTED)
    push_at(store, BOUNDARY + 2 * WEEK, "p-other", to="online", rows=OTHER)
    late = push_at(store, BOUNDARY + 2 * WEEK, "p-online-late", to="online")
    assert late.replayed is False
    assert late.online == {"user_live@v1": {"written": 2, "skipped": 0}}
    [after, _] = repo.online(ACCEPTED)
    # Same values and event time; the newer created time wins the write rule.
    assert after[:3] == before[:3]
    assert (before[3], after[3]) == (BOUNDARY, BOUNDARY + 2 * WEEK)
    assert repo.offline() == []
