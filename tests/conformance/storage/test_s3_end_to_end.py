"""The user's path with every source on the S3 server: the same answers as local disk.

Two twin repositories hold the same scaffolded data, one reading it from local files, one
from ``s3://`` on moto's standalone server (configured through ``storage.s3`` in the
environment overrides, as a deployment would). Training sets, materialized online values
and pushes must be identical; bad storage settings give one clear error naming the fix.
"""

from __future__ import annotations

import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, s3_storage

from parity import FeatureStore
from parity.config import load_config
from parity.errors import StorageAccessDenied, StorageBucketNotFound, StorageUnavailable
from parity.scaffold import init_repo
from parity.storage import ObjectStorage, S3Config

END = datetime(2026, 3, 1, tzinfo=UTC)
PUSH_VIEWS = """
from datetime import timedelta

from features import user
from parity import DeltaSource, FeatureService, FeatureView, Field, Float64, Int64, PushSource

txn_push = PushSource(
    "txn_push", batch_source=DeltaSource("{root}/txn_events", timestamp_field="event_timestamp")
)
user_live = FeatureView(
    "user_live",
    entities=[user],
    schema=[Field("last_amount", Float64, nullable=False, min_value=0), Field("txn_count", Int64)],
    source=txn_push,
    ttl=timedelta(days=1),
)
"""


def environ(endpoint: str) -> dict[str, str]:
    return {
        "PARITY__STORAGE__S3__ENDPOINT_URL": endpoint,
        "PARITY__STORAGE__S3__REGION": "us-east-1",
        "PARITY__STORAGE__S3__ACCESS_KEY_ID": S3_ACCESS_KEY,
        "PARITY__STORAGE__S3__SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "PARITY__STORAGE__S3__TIMEOUT_SECONDS": "5",
    }


def twin_repos(tmp_path: Path, endpoint: str, bucket: str) -> tuple[FeatureStore, FeatureStore]:
    """(local, s3): the scaffolded repository, and a copy whose data lives on S3."""
    local_root = init_repo(tmp_path / "local", project="t", rows=300, end=END)
    remote_root = init_repo(tmp_path / "remote", project="t", rows=300, end=END)
    prefix = f"s3://{bucket}/{uuid.uuid4().hex[:12]}"
    storage = s3_storage(endpoint)
    for file in sorted((remote_root / "data").glob("*.parquet")):
        fs, key = storage.filesystem(f"{prefix}/data/{file.name}")
        pq.write_table(pq.read_table(file), key, filesystem=fs)
        file.unlink()  # the remote repository can only read its data from S3
    features = remote_root / "features.py"
    features.write_text(features.read_text().replace('"data/', f'"{prefix}/data/'))
    (remote_root / "push_features.py").write_text(PUSH_VIEWS.replace("{root}", prefix))
    (local_root / "push_features.py").write_text(
        PUSH_VIEWS.replace("{root}", str(local_root / "data"))
    )
    local = FeatureStore(local_root, config=load_config(local_root, environ={}))
    remote = FeatureStore(remote_root, config=load_config(remote_root, environ=environ(endpoint)))
    for store in (local, remote):
        store.apply(message="first")
        for record in store.list_feature_views():
            store.promote(record.ref, message="test", force=True)
    return local, remote


@pytest.fixture
def twins(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> Any:
    local, remote = twin_repos(tmp_path, s3_endpoint, s3_bucket)
    yield local, remote
    local.close()
    remote.close()


def entity_frame(store: FeatureStore) -> pd.DataFrame:
    users = pq.read_table(store.repo_path.parent / "local" / "data" / "transactions.parquet")
    frame = users.select(["user_id", "merchant_id", "event_timestamp"]).slice(0, 200)
    return frame.to_pandas()


def test_training_set_from_s3_sources_is_cell_for_cell_the_local_one(twins: Any) -> None:
    local, remote = twins
    entities = entity_frame(local)
    service = "fraud_detection"
    expected = local.get_historical_features(entities, feature_service=service).to_arrow()
    got = remote.get_historical_features(entities, feature_service=service).to_arrow()
    assert got.num_rows == expected.num_rows == 200
    assert got.equals(expected)


def test_materialize_from_s3_serves_the_same_online_values(twins: Any) -> None:
    local, remote = twins
    start = END - timedelta(days=40)
    for store in (local, remote):
        reports = store.materialize(start, END)
        assert reports and all(r.rows_written > 0 for r in reports if r.rows_read)
    pairs = [(1, 1), (2, 3), (5, 7), (999, 1)]
    rows = [{"user_id": u, "merchant_id": m, "amount": 10.0} for u, m in pairs]
    read = {"entity_rows": rows, "feature_service": "fraud_detection", "now": END}
    expected = local.get_online_features(**read).to_dict()
    got = remote.get_online_features(**read).to_dict()
    assert got == expected
    assert any(v is not None for v in got["user_id"])


def test_push_commits_to_a_delta_table_on_s3_once(twins: Any) -> None:
    _, remote = twins
    at = datetime.now(UTC) - timedelta(minutes=5)
    rows = [
        {"user_id": 10, "last_amount": 50.0, "txn_count": 1, "event_timestamp": at},
        {"user_id": 11, "last_amount": -1.0, "txn_count": 2, "event_timestamp": at},
    ]
    first = remote.push("txn_push", rows, push_id="p-1")
    again = remote.push("txn_push", rows, push_id="p-1")
    assert (first.rows_written, first.rows_rejected) == (1, 1)
    assert again.rows_written == first.rows_written  # the same push, not a second copy
    from deltalake import DeltaTable

    path = next(s for s in (remote.repo_path / "push_features.py").read_text().split('"')
                if s.endswith("/txn_events"))  # fmt: skip
    table = DeltaTable(path, storage_options=remote.storage.objects.delta_options(path))
    assert table.to_pyarrow_table().column("user_id").to_pylist() == [10]


def _append_commits(uri: str, endpoint: str, writer: int, commits: int) -> None:
    from deltalake import write_deltalake

    options = s3_storage(endpoint).delta_options(uri)
    for i in range(commits):
        rows = pa.table({"writer": [writer], "i": [i]})
        write_deltalake(uri, rows, mode="append", storage_options=options)  # type: ignore[arg-type]


def test_two_concurrent_delta_writers_on_s3_lose_no_commit(
    s3_endpoint: str, s3_bucket: str
) -> None:
    """Conditional put (``If-None-Match``) makes the second writer of a version retry."""
    from deltalake import DeltaTable, write_deltalake

    uri = f"s3://{s3_bucket}/{uuid.uuid4().hex[:12]}/concurrent"
    options = s3_storage(s3_endpoint).delta_options(uri)
    assert options is not None and options["aws_conditional_put"] == "etag"
    write_deltalake(uri, pa.table({"writer": [-1], "i": [-1]}), storage_options=options)
    commits = 8
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_append_commits, args=(uri, s3_endpoint, w, commits))
        for w in range(2)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 2 * commits
    columns = table.to_pyarrow_table().to_pydict()
    seen = sorted(zip(columns["writer"], columns["i"], strict=True))
    assert seen == [(-1, -1)] + [(w, i) for w in range(2) for i in range(commits)]


def test_missing_bucket_is_one_clear_error(s3_endpoint: str) -> None:
    storage = s3_storage(s3_endpoint)
    with pytest.raises(StorageBucketNotFound, match=r"no-such-bucket.*Create it"):
        storage.parquet_files("s3://no-such-bucket/data")


def test_unreachable_endpoint_names_the_setting(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = ObjectStorage(
        S3Config(endpoint_url=f"http://127.0.0.1:{port}", access_key_id="k",
                 secret_access_key="s", timeout_seconds=2)
    )  # fmt: skip
    with pytest.raises(StorageUnavailable, match=r"storage\.s3\.endpoint_url"):
        storage.parquet_files("s3://bucket/data")


def test_wrong_credentials_name_the_setting_and_never_print_the_secret(tmp_path: Path) -> None:
    """A private moto server that checks credentials (after its first, unchecked call)."""
    import os
    import shutil
    import subprocess
    import time

    import boto3
    from tests.conftest import _free_port, _port_open

    port = _free_port()
    binary = shutil.which("moto_server")
    assert binary is not None
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "1"}
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _port_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="y",
            region_name="us-east-1",
        ).create_bucket(Bucket="locked")  # fmt: skip
        secret = "wrong-secret-" + uuid.uuid4().hex
        storage = ObjectStorage(
            S3Config(endpoint_url=endpoint, access_key_id="nobody", secret_access_key=secret)
        )
        with pytest.raises(StorageAccessDenied, match=r"secret_access_key") as raised:
            storage.parquet_files("s3://locked/data")
        assert secret not in str(raised.value) and secret not in repr(storage)
    finally:
        process.terminate()
        process.wait(timeout=10)
