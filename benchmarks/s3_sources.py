"""Point-in-time training set with sources on S3 vs the same files on local disk.

Usage::

    python benchmarks/s3_sources.py --scale S        # or XS / M; --repeat N

Starts moto's standalone S3 server (``moto_server``, a real HTTP server on a loopback
port), uploads the workload of ``_workload.py`` (three views, 100k entities) to a bucket,
then builds the same training set from ``s3://`` sources and from the local files, in the
same process, alternating, ``--repeat`` times each. Prints the median wall time of each,
the S3/local ratio, and whether the two frames are identical cell for cell (they must be).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _workload import Workload, workload  # noqa: E402

DTYPES = ("float32", "float64", "int64", "float64", "string")
KEY, SECRET = "bench-key", "bench-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("moto_server")
    if binary is None:
        sys.exit('moto_server not found: pip install "moto[server]"')
    port = free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.terminate()
    sys.exit("moto_server did not start")


def upload(wl: Workload, endpoint: str, bucket: str) -> dict[str, str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    uris = {}
    for view in wl.views:
        client.upload_file(str(view.path), bucket, f"views/{view.path.name}")
        uris[view.name] = f"s3://{bucket}/views/{view.path.name}"
    return uris


def training_set(wl: Workload, paths: dict[str, str], storage: object) -> tuple[float, object]:
    import pandas as pd

    from parity.definitions import Entity, FeatureView, Field, ParquetSource
    from parity.offline.base import ViewReadSpec
    from parity.offline.duckdb import DuckDBOfflineConfig, DuckDBOfflineEngine
    from parity.types import Int64

    user = Entity("user", join_keys=[Field("user_id", Int64)])
    specs = [
        ViewReadSpec.from_view(
            FeatureView(
                view.name,
                entities=[user],
                schema=[Field(f, t) for f, t in zip(view.features, DTYPES, strict=True)],
                source=ParquetSource(
                    paths[view.name],
                    timestamp_field="event_timestamp",
                    created_timestamp_field="created_timestamp",
                ),
                ttl=None if view.ttl_days is None else timedelta(days=view.ttl_days),
            ),
            version=1,
            repo_root=HERE,
            storage=storage,  # type: ignore[arg-type]
        )
        for view in wl.views
    ]
    entity_df = pd.read_parquet(wl.entity_path)
    with tempfile.TemporaryDirectory() as tmp:
        engine = DuckDBOfflineEngine(
            DuckDBOfflineConfig(path=tmp, temp_directory=tmp), repo_root=tmp
        )
        clock = time.perf_counter()
        table = engine.get_historical_features(entity_df, specs).to_arrow()
        seconds = time.perf_counter() - clock
        engine.close()
    return seconds, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="S", choices=("XS", "S", "M"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from parity.storage import ObjectStorage, S3Config

    wl = workload(args.scale)
    process, endpoint = start_moto()
    try:
        uris = upload(wl, endpoint, "bench")
        storage = ObjectStorage(
            S3Config(endpoint_url=endpoint, access_key_id=KEY, secret_access_key=SECRET)
        )
        local_paths = {v.name: str(v.path) for v in wl.views}
        times: dict[str, list[float]] = {"local": [], "s3": []}
        frames: dict[str, object] = {}
        for _ in range(args.repeat):
            for mode, paths in (("local", local_paths), ("s3", uris)):
                seconds, frame = training_set(wl, paths, storage)
                times[mode].append(seconds)
                frames[mode] = frame
    finally:
        process.terminate()
        process.wait(timeout=10)
    local, s3 = statistics.median(times["local"]), statistics.median(times["s3"])
    identical = frames["local"].equals(frames["s3"])  # type: ignore[attr-defined]
    rows = frames["local"].num_rows  # type: ignore[attr-defined]
    print(f"scale {args.scale}: {rows:,} entity rows x 3 views, repeat {args.repeat}")
    print(f"{'source':<8}{'median s':>10}{'runs':>30}")
    for mode in ("local", "s3"):
        runs = ", ".join(f"{t:.2f}" for t in times[mode])
        print(f"{mode:<8}{statistics.median(times[mode]):>10.2f}{runs:>30}")
    print(f"s3 / local: {s3 / local:.2f}x; frames identical cell for cell: {identical}")


if __name__ == "__main__":
    main()
