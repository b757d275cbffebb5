"""Building online stores: lazy backends, config paths, clear errors."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from parity.errors import DefinitionError, OnlineStoreUnavailable
from parity.online import ReadRequest, ViewTable, open_online_store
from parity.online.redis import RedisOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig, SqliteOnlineStore

TABLE = ViewTable.build("p", "v", 1, join_keys={"id": "int64"}, features={"x": "int64"})


def test_importing_parity_and_its_config_never_imports_redis() -> None:
    code = (
        "import sys, parity, parity.config, parity.online, parity.online.redis; "
        "print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_relative_sqlite_path_is_under_the_repo_root(tmp_path: Path) -> None:
    with open_online_store(SqliteOnlineConfig(path="data/online.db"), repo_root=tmp_path) as store:
        assert isinstance(store, SqliteOnlineStore)
        assert store.path == tmp_path / "data" / "online.db"
        assert store.path.is_file()


def test_unopenable_sqlite_path_names_the_path_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OnlineStoreUnavailable, match=r"'.*file/online\.db'.*online_store\.path"):
        open_online_store(SqliteOnlineConfig(path="file/online.db"), repo_root=tmp_path)


def test_unreachable_redis_fails_fast_with_the_url_and_the_fix() -> None:
    config = RedisOnlineConfig(url="redis://user:hunter2@127.0.0.1:1/0")
    store = open_online_store(config, repo_root=".")
    start = time.monotonic()
    with pytest.raises(OnlineStoreUnavailable) as info:
        store.read([ReadRequest(TABLE, keys=[(1,)])])
    assert time.monotonic() - start < 2.0
    message = str(info.value)
    assert "redis://user:***@127.0.0.1:1/0" in message
    assert "hunter2" not in message
    assert "Start Redis, or fix online_store.url" in message
    rows = pa.table(
        {"id": [1], "x": [1], "event_timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)])}
    )
    with pytest.raises(OnlineStoreUnavailable, match="during a write to p:v:v1"):
        store.write(TABLE, rows)
    store.close()


def test_closed_sqlite_store_refuses_work(tmp_path: Path) -> None:
    store = open_online_store(SqliteOnlineConfig(), repo_root=tmp_path)
    store.close()
    with pytest.raises(OnlineStoreUnavailable, match="is closed"):
        store.read([ReadRequest(TABLE, keys=[(1,)])])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": "my-project"}, "project 'my-project': expected an identifier"),
        ({"view": "a:b"}, "view 'a:b': expected an identifier"),
        ({"version": 0}, "version must be a positive integer, got 0"),
        ({"features": ()}, "at least one join key and one feature"),
    ],
)
def test_view_table_refuses_names_that_could_collide(
    kwargs: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "project": "p",
        "view": "v",
        "version": 1,
        "join_keys": TABLE.join_keys,
        "features": TABLE.features,
    }
    fields.update(kwargs)
    with pytest.raises(DefinitionError, match=message):
        ViewTable(**fields)  # type: ignore[arg-type]


def test_view_tables_with_equal_fields_are_equal_and_hash_alike() -> None:
    again = ViewTable.build("p", "v", 1, join_keys={"id": "int64"}, features={"x": "int64"})
    assert again == TABLE and hash(again) == hash(TABLE)
    assert ViewTable.build("p", "v", 2, join_keys={"id": "int64"}, features={"x": "int64"}) != TABLE


def test_view_table_from_a_feature_view_takes_every_entity_key_and_feature() -> None:
    from parity import Entity, FeatureView, Field, Float32, Int64, ParquetSource, String

    user = Entity("user", join_keys=[Field("user_id", Int64)])
    shop = Entity("shop", join_keys=[Field("shop_id", String)])
    view = FeatureView(
        "user_shop",
        entities=[user, shop],
        schema=[Field("visits", Int64), Field("score", Float32)],
        source=ParquetSource("data/x.parquet", timestamp_field="ts"),
    )
    table = ViewTable.from_view(view, project="fraud", version=3)
    assert table.namespace == "fraud:user_shop:v3"
    assert table.join_keys == (("user_id", Int64), ("shop_id", String))
    assert table.features == (("visits", Int64), ("score", Float32))
