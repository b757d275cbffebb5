"""Push identity: fingerprints, push ids, times of receipt, and the Delta records of a push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from parity.errors import BadRequest, PushIdConflict
from parity.offline.delta_writes import append_once, commit_with_metadata, committed_versions
from parity.online import open_online_store
from parity.online.base import OnlineStore
from parity.online.sqlite import SqliteOnlineConfig
from parity.push.config import PushConfig
from parity.push.ledger import (
    PushIdentity,
    PushLedger,
    at_us,
    bucket_start,
    check_push_id,
    committed_identity,
    fingerprint,
    ledger_table,
    offline_transactions,
)
from parity.push.request import PushResult, parse_push_request
from parity.serve.config import ServerConfig

json_values = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
row = st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=5)
rows = st.lists(row, min_size=1, max_size=4)


@given(rows)
def test_fingerprint_ignores_the_order_of_keys_in_a_row(given_rows: list[dict[str, Any]]) -> None:
    reordered = [dict(reversed(list(r.items()))) for r in given_rows]
    assert fingerprint("s", "online", given_rows) == fingerprint("s", "online", reordered)


@given(rows, rows)
def test_fingerprints_are_equal_exactly_when_the_canonical_pushes_are(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> None:
    def canonical(r: list[dict[str, Any]]) -> bytes:
        return orjson.dumps(r, option=orjson.OPT_SORT_KEYS)

    assert (fingerprint("s", "online", a) == fingerprint("s", "online", b)) == (
        canonical(a) == canonical(b)
    )


@given(rows)
def test_fingerprint_covers_the_source_and_the_mode_and_fits_a_delta_version(
    given_rows: list[dict[str, Any]],
) -> None:
    base = fingerprint("s", "online", given_rows)
    assert 0 <= base < 2**63
    assert base != fingerprint("t", "online", given_rows)
    assert base != fingerprint("s", "offline", given_rows)


@given(st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)))
def test_time_of_receipt_round_trips_through_microseconds(moment: datetime) -> None:
    assert at_us(PushIdentity("p", 1, moment).received_us) == moment


@pytest.mark.parametrize("value", ["a", "order-17:retry_2.x", "f" * 128])
def test_usable_push_ids_are_kept(value: str) -> None:
    assert check_push_id(value) == value


@pytest.mark.parametrize("value", ["", "has space", "x" * 129, 17, None, "é"])
def test_unusable_push_ids_are_a_bad_request_naming_the_value(value: Any) -> None:
    with pytest.raises(BadRequest, match="is not a usable idempotency key"):
        check_push_id(value)


def test_a_push_body_carries_its_push_id_and_an_unusable_one_is_refused() -> None:
    body = {"push_source_name": "s", "rows": [{"a": 1}], "push_id": "p-1"}
    assert parse_push_request(body, max_rows=5).push_id == "p-1"
    assert parse_push_request({**body, "push_id": None}, max_rows=5).push_id is None
    with pytest.raises(BadRequest):
        parse_push_request({**body, "push_id": "no spaces"}, max_rows=5)


def test_a_different_fingerprint_is_a_conflict_naming_the_push_id() -> None:
    identity = PushIdentity("p-9", 5, datetime(2026, 1, 1, tzinfo=UTC))
    identity.require_same(5, push_source="s")
    with pytest.raises(PushIdConflict, match="push_id 'p-9' was already used"):
        identity.require_same(6, push_source="s")


def test_a_recorded_answer_replays_unchanged_but_flagged() -> None:
    result = PushResult(
        "s",
        3,
        2,
        1,
        rejected=[{"row": 2, "view": "v@v1", "reason": "x"}],
        online={"v@v1": {"written": 2, "skipped": 0}},
        offline={"table_path": "/t", "table_version": 4, "rows_written": 2},
        push_id="p",
    )
    stored = orjson.loads(orjson.dumps(result.to_dict()))
    replayed = PushResult.from_dict(stored, replayed=True)
    assert replayed.to_dict() == {**result.to_dict(), "replayed": True}


def _rows(n: int) -> pa.Table:
    return pa.table({"k": pa.array(range(n), pa.int64())})


def test_append_once_writes_rows_and_record_in_one_commit_and_never_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    identity = PushIdentity("p1", 123, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=7))
    records = offline_transactions(identity)
    assert committed_identity(path, "p1") is None
    version = append_once(path, _rows(3), transactions=records, metadata={"parity.push_id": "p1"})
    assert version == 0
    assert append_once(path, _rows(3), transactions=records) is None
    assert DeltaTable(path).to_pyarrow_table().num_rows == 3
    assert committed_identity(path, "p1") == identity
    assert committed_versions(path, ["parity.push/p2"]) == {"parity.push/p2": None}
    # Another push lands in its own commit; the first one's commit is still found.
    append_once(path, _rows(1), transactions={"parity.push/p2": 1})
    assert commit_with_metadata(path, "parity.push_id", "p1") == 0
    assert commit_with_metadata(path, "parity.push_id", "nope") is None


lengths = st.integers(1, 400 * 86_400)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(moments, lengths)
def test_a_moment_lies_in_its_bucket_and_a_retry_within_the_retention_in_it_or_the_next(
    moment: datetime, length: int
) -> None:
    start = bucket_start(moment, length)
    assert at_us(start * 1_000_000) <= moment < at_us((start + length) * 1_000_000)
    retry = bucket_start(moment + timedelta(seconds=length), length)
    assert retry in (start, start + length)


def test_the_retention_defaults_to_seven_days_and_reads_seconds_or_iso_durations() -> None:
    assert ServerConfig().push.idempotency_retention == timedelta(days=7)
    assert PushConfig.model_validate({"idempotency_retention": 3600}).idempotency_retention == (
        timedelta(hours=1)
    )
    parsed = ServerConfig.model_validate({"push": {"idempotency_retention": "P2D"}})
    assert parsed.push.idempotency_retention == timedelta(days=2)
    with pytest.raises(ValidationError, match="idempotency_retention"):
        PushConfig.model_validate({"idempotency_retention": 0})
    with pytest.raises(ValidationError, match="idempotency_retentoin"):
        PushConfig.model_validate({"idempotency_retentoin": 60})


class _CountingDeletes:
    """A real SQLite online store that remembers what ``delete_table`` dropped."""

    def __init__(self, inner: OnlineStore) -> None:
        self.inner = inner
        self.deleted: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete_table(self, table: Any, /) -> int:
        self.deleted.append(table.version)
        return self.inner.delete_table(table)


def _push(store: Any, now: datetime, push_id: str) -> PushLedger:
    ledger = PushLedger(store, project="p", retention=timedelta(hours=1), now=now)
    if ledger.lookup("s", push_id) is None:
        identity = PushIdentity(push_id, 1, now)
        ledger.start("s", identity)
        ledger.finish("s", identity, {"ok": True})
    return ledger


def test_a_late_clock_never_rolls_the_rotation_back_nor_drops_a_live_bucket(
    tmp_path: Path,
) -> None:
    hour = datetime(2026, 1, 1, 10, tzinfo=UTC)
    start = int(hour.timestamp())
    with open_online_store(SqliteOnlineConfig(path="online.db"), repo_root=tmp_path) as real:
        store = _CountingDeletes(real)
        _push(store, hour - timedelta(minutes=1), "a")  # bucket start - 3600
        _push(store, hour, "b")  # bucket start: rotates, drops nothing live
        assert store.deleted == [1, start - 7200]
        store.deleted.clear()
        # A process whose clock is a minute late pushes into the previous bucket.
        _push(store, hour - timedelta(seconds=30), "c")
        _push(store, hour + timedelta(minutes=5), "d")
        assert store.deleted == []
        found = PushLedger(store, project="p", retention=timedelta(hours=1), now=hour)
        for push_id in "abcd":
            assert found.lookup("s", push_id) is not None, push_id
        # Two hours on, the rotation row still names start - 3600 and start (nobody pushed
        # in between): both are older than the previous bucket, both are dropped.
        _push(store, hour + timedelta(hours=2), "e")
        assert store.deleted == [start - 3600, start]
        later = PushLedger(store, project="p", retention=timedelta(hours=1), now=hour)
        assert later.lookup("s", "d") is None
        assert ledger_table("p", start).namespace == f"p:parity_push_ledger:v{start}"
