"""The online store contract, run against every backend (see conftest.py)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from parity.errors import NaiveTimestampError, SchemaMismatch
from parity.online import (
    OnlineRow,
    OnlineStore,
    ReadRequest,
    ViewTable,
    WriteResult,
    open_online_store,
)
from parity.online.base import ScansEntities
from parity.online.redis import RedisOnlineConfig
from parity.online.redis_cluster import RedisClusterOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig

OnlineConfig = SqliteOnlineConfig | RedisOnlineConfig | RedisClusterOnlineConfig

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
US_UTC = pa.timestamp("us", tz="UTC")
USERS = ViewTable.build(
    "shop", "user_stats", 1, join_keys={"user_id": "int64"}, features={"spend": "float64"}
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def table(data: dict[str, list[Any]], **types: pa.DataType) -> pa.Table:
    """An Arrow table; timestamp columns are ``timestamp[us, UTC]`` unless typed."""
    columns = {}
    for name, values in data.items():
        kind = types.get(name)
        if kind is None and name in ("event_timestamp", "created_timestamp"):
            kind = US_UTC
        columns[name] = pa.array(values, kind)
    return pa.table(columns)


def spend_rows(
    keys: list[int], spends: list[float], seconds: list[float], **extra: Any
) -> pa.Table:
    data: dict[str, list[Any]] = {
        "user_id": keys,
        "spend": spends,
        "event_timestamp": [at(s) for s in seconds],
    }
    data.update(extra)
    return table(data)


def read_one(store: OnlineStore, view: ViewTable, key: tuple[Any, ...]) -> OnlineRow | None:
    return store.read([ReadRequest(view, keys=[key])])[0][0]


def spend_of(store: OnlineStore, key: int, view: ViewTable = USERS) -> Any:
    row = read_one(store, view, (key,))
    return None if row is None else row.values[0]


ALL_TYPES = ViewTable.build(
    "shop",
    "all_types",
    1,
    join_keys={"id": "int64"},
    features={
        "i32": "int32",
        "i64": "int64",
        "f32": "float32",
        "f64": "float64",
        "flag": "bool",
        "name": "string",
        "blob": "bytes",
        "seen": "timestamp",
        "tags": "list<string>",
        "counts": "list<int64>",
        "scores": "list<float64>",
        "stamps": "list<timestamp>",
        "emb": "vector<float32,3>",
        "emb64": "vector<float64,2>",
    },
)
ALL_TYPES_ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "i32": -(2**31),
        "i64": 2**63 - 1,
        "f32": 1.5,
        "f64": -0.1,
        "flag": True,
        "name": "Zoë: 東京",
        "blob": b"\x00\xff:1",
        "seen": at(-86400 * 365 * 60),
        "tags": ["a", None, ""],
        "counts": [1, -2, None],
        "scores": [0.25],
        "stamps": [at(1), None],
        "emb": [0.5, -1.0, 3.25],
        "emb64": [1e-300, 2.0],
    },
    {
        "id": 2,
        "i32": None,
        "i64": None,
        "f32": None,
        "f64": None,
        "flag": None,
        "name": None,
        "blob": None,
        "seen": None,
        "tags": None,
        "counts": [],
        "scores": None,
        "stamps": None,
        "emb": None,
        "emb64": None,
    },
    {
        "id": 3,
        "i32": 7,
        "i64": 0,
        "f32": float("inf"),
        "f64": 1e308,
        "flag": False,
        "name": "",
        "blob": b"",
        "seen": at(0.000001),
        "tags": [],
        "counts": [None],
        "scores": [],
        "stamps": [],
        "emb": [0.0, 0.0, 0.0],
        "emb64": [0.0, -0.0],
    },
]


def test_every_dtype_round_trips_with_nulls(store: OnlineStore) -> None:
    arrow_schema = pa.schema(
        [pa.field("id", pa.int64())]
        + [pa.field(name, dtype.to_arrow()) for name, dtype in ALL_TYPES.features]
        + [pa.field("event_timestamp", US_UTC)]
    )
    data = [{**row, "event_timestamp": at(10)} for row in ALL_TYPES_ROWS]
    result = store.write(ALL_TYPES, pa.Table.from_pylist(data, schema=arrow_schema))
    assert result == WriteResult(rows=3, written=3, skipped=0)

    got = store.read([ReadRequest(ALL_TYPES, keys=[(1,), (2,), (3,)])])[0]
    for expected, row in zip(ALL_TYPES_ROWS, got, strict=True):
        assert row is not None
        assert row.event_timestamp == at(10)
        assert row.created_timestamp is None
        assert dict(zip(ALL_TYPES.feature_names, row.values, strict=True)) == {
            name: expected[name] for name in ALL_TYPES.feature_names
        }
    assert isinstance(got[0].values[ALL_TYPES.feature_names.index("blob")], bytes)  # type: ignore[union-attr]


def test_late_row_never_overwrites_newer_online_value(store: OnlineStore) -> None:
    store.write(USERS, spend_rows([1, 2], [10.0, 20.0], [100, 100]))
    late = store.write(USERS, spend_rows([1, 2], [1.0, 21.0], [50, 101]))
    assert late == WriteResult(rows=2, written=1, skipped=1)
    assert spend_of(store, 1) == 10.0
    assert spend_of(store, 2) == 21.0
    row = read_one(store, USERS, (2,))
    assert row is not None and row.event_timestamp == at(101)


def test_equal_event_timestamps_tie_broken_by_created_timestamp(store: OnlineStore) -> None:
    store.write(USERS, spend_rows([1], [1.0], [100], created_timestamp=[at(5)]))
    older_created = store.write(USERS, spend_rows([1], [2.0], [100], created_timestamp=[at(4)]))
    assert older_created.skipped == 1 and spend_of(store, 1) == 1.0
    newer_created = store.write(USERS, spend_rows([1], [3.0], [100], created_timestamp=[at(6)]))
    assert newer_created.written == 1 and spend_of(store, 1) == 3.0
    row = read_one(store, USERS, (1,))
    assert row is not None and row.created_timestamp == at(6)


def test_missing_created_timestamp_orders_before_any_present_one(store: OnlineStore) -> None:
    store.write(USERS, spend_rows([1], [1.0], [100], created_timestamp=[at(-1000)]))
    assert store.write(USERS, spend_rows([1], [2.0], [100])).skipped == 1
    assert spend_of(store, 1) == 1.0


def test_rewriting_the_same_rows_changes_nothing(store: OnlineStore) -> None:
    batch = spend_rows([1, 2, 3], [1.0, 2.0, 3.0], [10, 20, 30])
    assert store.write(USERS, batch) == WriteResult(rows=3, written=3, skipped=0)
    before = store.read([ReadRequest(USERS, keys=[(1,), (2,), (3,)])])
    assert store.write(USERS, batch) == WriteResult(rows=3, written=0, skipped=3)
    assert store.read([ReadRequest(USERS, keys=[(1,), (2,), (3,)])]) == before


def test_duplicate_keys_in_one_batch_keep_the_latest_row(store: OnlineStore) -> None:
    batch = spend_rows([7, 7, 7, 8], [1.0, 3.0, 2.0, 4.0], [10, 30, 20, 5])
    assert store.write(USERS, batch) == WriteResult(rows=4, written=2, skipped=2)
    assert spend_of(store, 7) == 3.0
    assert spend_of(store, 8) == 4.0


def test_two_view_versions_coexist(store: OnlineStore) -> None:
    v2 = ViewTable.build(
        "shop", "user_stats", 2, join_keys={"user_id": "int64"}, features={"spend": "string"}
    )
    store.write(USERS, spend_rows([1], [1.0], [10]))
    store.write(v2, table({"user_id": [1], "spend": ["high"], "event_timestamp": [at(5)]}))
    v1_row, v2_row = (
        r[0] for r in store.read([ReadRequest(USERS, [(1,)]), ReadRequest(v2, [(1,)])])
    )
    assert v1_row is not None and v1_row.values == (1.0,) and v1_row.event_timestamp == at(10)
    assert v2_row is not None and v2_row.values == ("high",) and v2_row.event_timestamp == at(5)


def test_delete_table_removes_only_that_version(store: OnlineStore) -> None:
    v2 = ViewTable.build(
        "shop", "user_stats", 2, join_keys={"user_id": "int64"}, features={"spend": "float64"}
    )
    # A view whose name extends the deleted one must survive too.
    longer = ViewTable.build(
        "shop", "user_stats_x", 1, join_keys={"user_id": "int64"}, features={"spend": "float64"}
    )
    for view in (USERS, v2, longer):
        store.write(view, spend_rows([1, 2], [1.0, 2.0], [10, 10]))
    assert store.delete_table(USERS) == 2
    assert spend_of(store, 1) is None and spend_of(store, 2) is None
    assert spend_of(store, 1, v2) == 1.0
    assert spend_of(store, 2, longer) == 2.0
    assert store.delete_table(USERS) == 0
    # The version can be written again after a retire.
    assert store.write(USERS, spend_rows([1], [5.0], [1])).written == 1
    assert spend_of(store, 1) == 5.0


def test_read_many_entities_of_many_views_in_one_call(store: OnlineStore) -> None:
    views = [
        ViewTable.build(
            "shop",
            f"view_{i}",
            1,
            join_keys={"user_id": "int64"},
            features={f"f{j}": "float64" for j in range(5)},
        )
        for i in range(3)
    ]
    n = 250
    for i, view in enumerate(views):
        data: dict[str, list[Any]] = {"user_id": list(range(n))}
        for j in range(5):
            data[f"f{j}"] = [k * 10.0 + i + j / 10 for k in range(n)]
        data["event_timestamp"] = [at(k) for k in range(n)]
        assert store.write(view, table(data)).written == n
    wanted = [(k,) for k in range(0, n + 50, 3)]  # the last ones are missing
    result = store.read([ReadRequest(view, keys=wanted) for view in views])
    assert len(result) == 3
    for i, per_view in enumerate(result):
        assert len(per_view) == len(wanted)
        for (k,), row in zip(wanted, per_view, strict=True):
            if k >= n:
                assert row is None
                continue
            assert row is not None
            assert row.values == tuple(k * 10.0 + i + j / 10 for j in range(5))
            assert row.event_timestamp == at(k)


def test_missing_entities_and_unwritten_views_read_as_none(store: OnlineStore) -> None:
    store.write(USERS, spend_rows([1], [1.0], [10]))
    never = ViewTable.build("shop", "never", 1, join_keys={"id": "int64"}, features={"x": "int64"})
    result = store.read(
        [
            ReadRequest(USERS, keys=[(404,), (1,), (405,)]),
            ReadRequest(never, keys=[(1,)]),
            ReadRequest(USERS, keys=[]),
        ]
    )
    assert [r is None for r in result[0]] == [True, False, True]
    assert result[1] == [None]
    assert result[2] == []
    assert store.read([]) == []


def test_composite_keys_of_every_key_type_are_distinct_and_round_trip(store: OnlineStore) -> None:
    view = ViewTable.build(
        "shop",
        "composite",
        1,
        join_keys={"a": "int32", "b": "string", "c": "bool", "d": "timestamp", "e": "bytes"},
        features={"x": "int64"},
    )
    keys = [
        (1, "2:x", True, at(0), b""),
        (12, ":x", True, at(0), b""),  # would collide with the first under naive joining
        (1, "2:x", False, at(0), b""),
        (1, "2:x", True, at(0.000001), b""),
        (1, "2:x", True, at(0), b"\x00"),
        (-5, "", False, datetime(1969, 12, 31, tzinfo=UTC), b"1:a"),
    ]
    data = {name: [k[i] for k in keys] for i, name in enumerate(view.join_key_names)}
    result = store.write(
        view,
        table(
            {**data, "x": list(range(len(keys))), "event_timestamp": [at(1)] * len(keys)},
            a=pa.int32(),
        ),
    )
    assert result.written == len(keys)
    got = store.read([ReadRequest(view, keys=[*keys, (1, "2:x", True, at(0), b"zz")])])[0]
    assert [None if r is None else r.values[0] for r in got] == [*range(len(keys)), None]


def test_appended_nullable_feature_reads_none_for_values_written_before(
    store: OnlineStore,
) -> None:
    wider = ViewTable.build(
        "shop",
        "user_stats",
        1,
        join_keys={"user_id": "int64"},
        features={"spend": "float64", "country": "string"},
    )
    store.write(USERS, spend_rows([1], [1.0], [10]))
    store.write(wider, spend_rows([2], [2.0], [10], country=["DE"]))
    old, new = store.read([ReadRequest(wider, keys=[(1,), (2,)])])[0]
    assert old is not None and old.values == (1.0, None)
    assert new is not None and new.values == (2.0, "DE")


def test_bad_input_is_refused_with_the_column_named(store: OnlineStore) -> None:
    with pytest.raises(SchemaMismatch, match=r"'spend' is missing.*Did you mean 'spent'"):
        store.write(USERS, table({"user_id": [1], "spent": [1.0], "event_timestamp": [at(1)]}))
    with pytest.raises(NaiveTimestampError, match="event_timestamp"):
        store.write(
            USERS,
            table(
                {"user_id": [1], "spend": [1.0], "event_timestamp": [datetime(2026, 1, 1)]},
                event_timestamp=pa.timestamp("us"),
            ),
        )
    with pytest.raises(SchemaMismatch, match="join key 'user_id' has 1 null"):
        store.write(USERS, spend_rows([None], [1.0], [1]))  # type: ignore[list-item]
    with pytest.raises(SchemaMismatch, match="'spend' of type string cannot be stored as float64"):
        store.write(USERS, table({"user_id": [1], "spend": ["x"], "event_timestamp": [at(1)]}))
    with pytest.raises(SchemaMismatch, match="expected 1 value"):
        store.read([ReadRequest(USERS, keys=[(1, 2)])])
    assert spend_of(store, 1) is None


def _write_many(config: OnlineConfig, root: str, newest: bool) -> None:
    """One concurrent writer: the newest rows once, or older rows over and over."""
    with open_online_store(config, repo_root=root) as store:
        keys = list(range(200))
        if newest:
            store.write(USERS, spend_rows(keys, [1000.0 + k for k in keys], [500] * len(keys)))
            return
        for second in range(40):
            store.write(USERS, spend_rows(keys, [float(second)] * len(keys), [second] * len(keys)))


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_concurrent_writers_never_let_the_older_value_win(
    online_config: OnlineConfig, tmp_path: Path, mode: str
) -> None:
    args = [(online_config, str(tmp_path), newest) for newest in (False, True, False)]
    if mode == "threads":
        workers: list[Any] = [threading.Thread(target=_write_many, args=a) for a in args]
    else:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_write_many, args=a) for a in args]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    if mode == "processes":
        assert [w.exitcode for w in workers] == [0, 0, 0]
    with open_online_store(online_config, repo_root=tmp_path) as store:
        got = store.read([ReadRequest(USERS, keys=[(k,) for k in range(200)])])[0]
    assert [None if r is None else r.values[0] for r in got] == [1000.0 + k for k in range(200)]


def test_empty_write_writes_nothing(store: OnlineStore) -> None:
    empty = spend_rows([], [], [])
    assert store.write(USERS, empty) == WriteResult(rows=0, written=0, skipped=0)
    assert spend_of(store, 1) is None


def test_columns_castable_to_their_dtypes_are_accepted(store: OnlineStore) -> None:
    view = ViewTable.build(
        "shop",
        "casts",
        1,
        join_keys={"id": "int64"},
        features={"country": "string", "score": "float32"},
    )
    berlin = pa.timestamp("ns", tz="Europe/Berlin")
    batch = pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "country": pa.array(["DE", "FR"]).dictionary_encode(),
            "score": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([at(1), at(2)], berlin),
            "ignored_extra_column": ["x", "y"],
        }
    )
    assert store.write(view, batch).written == 2
    got = store.read([ReadRequest(view, keys=[(1,), (2,)])])[0]
    assert [(r.values, r.event_timestamp) for r in got if r is not None] == [
        (("DE", 1.0), at(1)),
        (("FR", 2.0), at(2)),
    ]


def test_scan_lists_every_stored_entity_with_its_timestamps(store: OnlineStore) -> None:
    assert isinstance(store, ScansEntities)
    view = ViewTable.build(
        "shop",
        "scanned",
        1,
        join_keys={"shop": "string", "day": "timestamp", "open": "bool", "n": "int32"},
        features={"x": "int64"},
    )
    n = 57
    keys = [(f"s:{i}", at(i), i % 2 == 0, -i) for i in range(n)]
    data = {name: [k[j] for k in keys] for j, name in enumerate(view.join_key_names)}
    data["x"] = list(range(n))
    data["event_timestamp"] = [at(100 + i) for i in range(n)]
    data["created_timestamp"] = [None if i % 3 else at(200 + i) for i in range(n)]
    store.write(view, table(data, n=pa.int32()))
    store.write(USERS, spend_rows([1], [1.0], [1]))  # another view, never listed

    batches = list(store.scan(view, batch_size=10))
    assert len(batches) >= 2
    scanned = pa.concat_tables(batches).to_pylist()
    expected = [
        {
            "shop": k[0],
            "day": k[1],
            "open": k[2],
            "n": k[3],
            "event_timestamp": at(100 + i),
            "created_timestamp": None if i % 3 else at(200 + i),
        }
        for i, k in enumerate(keys)
    ]
    assert sorted(scanned, key=lambda r: r["n"]) == sorted(expected, key=lambda r: r["n"])
    never = ViewTable.build("shop", "never", 1, join_keys={"id": "int64"}, features={"x": "int64"})
    assert list(store.scan(never)) == []


def test_swap_changes_a_value_only_where_it_is_still_the_expected_one(store: OnlineStore) -> None:
    from parity.online.base import ValueSwap
    from parity.online.codec import TableCodec

    codec = TableCodec(USERS)
    store.write(USERS, spend_rows([1, 2, 3], [1.0, 2.0, 3.0], [10, 10, 10]))
    [stored] = store.read([ReadRequest(USERS, [(1,), (2,), (3,)])])
    assert all(row is not None for row in stored)
    old = [codec.encode_row(row) for row in stored if row is not None]
    older = codec.encode_batch(spend_rows([1], [0.5], [5])).values[0].as_py()
    changes = [
        ValueSwap(codec.encode_key((1,)), expected=old[0], new=older),  # moves back in time
        ValueSwap(codec.encode_key((2,)), expected=old[1], new=None),  # removed
        ValueSwap(codec.encode_key((3,)), expected=older, new=None),  # not the stored value
        ValueSwap(codec.encode_key((4,)), expected=older, new=older),  # absent: stays absent
    ]
    assert store.swap(USERS, changes) == 2
    [after] = store.read([ReadRequest(USERS, [(1,), (2,), (3,), (4,)])])
    assert after == [OnlineRow((0.5,), at_us(5), None), None, stored[2], None]
    assert store.swap(USERS, []) == 0


def at_us(seconds: float) -> int:
    return int(at(seconds).timestamp() * 1_000_000)
