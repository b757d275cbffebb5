"""Feature server latency and throughput: ``parity serve`` against ``feast serve`` 0.67.

Both servers serve the same data from the same Redis (127.0.0.1:6379): the scale-S
workload of ``benchmarks/_workload.py`` (100,000 users x 3 views x 5 features), its latest
row per user loaded into the online store of each (parity: ``OnlineStore.write``; Feast:
``write_to_online_store``), every view without ttl. A request asks for one user x 15
features through a feature service.

Per server, in the same run:

- one client, keep-alive (stdlib ``http.client``, the leanest Python client), random users,
  500 warm-up requests then ``--requests`` timed ones: p50 / p99 / max;
- ``wrk`` with ``--connections`` keep-alive connections (2 threads) for ``--duration``
  seconds, random users: requests/s and p99 (``apt-get install wrk``).

parity runs with its request log and metrics on (production settings). Feast runs in
``benchmarks/.venv-feast`` (created from ``requirements-feast.txt`` if missing, plus the
``redis`` extra). Results go to stdout as a Markdown table.

Run:
    python benchmarks/feature_server.py                      # parity (1 and 2 workers) + Feast
    python benchmarks/feature_server.py --skip-feast --workers 2
    python benchmarks/feature_server.py --parity-servers uvicorn,granian   # server choice
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FEAST_VENV = HERE / ".venv-feast"
FEAST_REQUIREMENTS = HERE / "requirements-feast.txt"
REDIS = ("127.0.0.1", 6379)
PARITY_PREFIX = "bench_fs"
FEAST_PROJECT = "bench_fs"
DTYPES = ("float32", "float64", "int64", "float64", "string")

PARITY_FEATURES = """
from parity import Entity, FeatureService, FeatureView, Field, ParquetSource
from parity.types import Float32, Float64, Int64, String

TYPES = {{"float32": Float32, "float64": Float64, "int64": Int64, "string": String}}
user = Entity("user", join_keys=[Field("user_id", Int64)])
VIEWS = {views!r}
views = [
    FeatureView(
        name,
        entities=[user],
        schema=[Field(f, TYPES[t]) for f, t in features],
        source=ParquetSource(path, timestamp_field="event_timestamp",
                             created_timestamp_field="created_timestamp"),
    )
    for name, path, features in VIEWS
]
for v in views:
    globals()[v.name] = v
bench = FeatureService("bench", features=views)
"""


# --- data ---------------------------------------------------------------------------------


def latest_tables(scale: str) -> list[tuple[str, Path, list[tuple[str, str]]]]:
    """Per view: the latest row per user as Parquet (cached beside the workload)."""
    import duckdb

    sys.path.insert(0, str(HERE.parent))
    from benchmarks._workload import workload

    wl = workload(scale)
    out = []
    for view in wl.views:
        path = view.path.with_name(f"latest_{view.name}.parquet")
        if not path.exists():
            cols = ", ".join(f'"{f}"' for f in view.features)
            duckdb.sql(
                f"COPY (SELECT user_id, event_timestamp, created_timestamp, {cols} "
                f"FROM read_parquet('{view.path}') QUALIFY row_number() OVER (PARTITION BY "
                "user_id ORDER BY event_timestamp DESC, created_timestamp DESC) = 1) "
                f"TO '{path}' (FORMAT parquet)"
            )
        out.append((view.name, path, list(zip(view.features, DTYPES, strict=True))))
    return out


def setup_parity(root: Path, views: list[tuple[str, Path, list[tuple[str, str]]]]) -> None:
    import pyarrow.parquet as pq

    from parity import FeatureStore
    from parity.online.base import ViewTable

    (root / "parity.yaml").write_text(
        "project: bench\n"
        "registry: {type: sqlite, path: data/registry.db}\n"
        "offline_store: {type: duckdb, path: data/offline}\n"
        f"online_store: {{type: redis, url: 'redis://{REDIS[0]}:{REDIS[1]}/0', "
        f"key_prefix: {PARITY_PREFIX}}}\n"
        "registry_cache_seconds: 60\n"
    )
    spec = [(name, str(path), features) for name, path, features in views]
    (root / "features.py").write_text(PARITY_FEATURES.format(views=spec))
    with FeatureStore(root) as store:
        store.apply(message="benchmark")
        for record in store.list_feature_views():
            store.promote(record.ref, message="benchmark", force=True)
        for name, path, _ in views:
            table = ViewTable.from_view(store.get_feature_view(name), project="bench", version=1)
            store.online_store.write(table, pq.read_table(path))


FEAST_YAML = """project: {project}
registry: {root}/registry.db
provider: local
offline_store:
  type: file
online_store:
  type: redis
  connection_string: "{host}:{port},db=0"
entity_key_serialization_version: 3
"""


def feast_setup_child(root: Path, views_json: str) -> None:
    """In the Feast venv: a Feast repo over the same data, loaded into Redis."""
    import pandas as pd
    from feast import (
        Entity,
        FeatureService,
        FeatureStore,
        FeatureView,
        Field,
        FileSource,
        ValueType,
    )
    from feast.types import Float32, Float64, Int64, String

    types = {"float32": Float32, "float64": Float64, "int64": Int64, "string": String}
    views_spec = json.loads(views_json)
    (root / "feature_store.yaml").write_text(
        FEAST_YAML.format(project=FEAST_PROJECT, root=root, host=REDIS[0], port=REDIS[1])
    )
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    views = [
        FeatureView(
            name=name,
            entities=[user],
            ttl=None,
            schema=[Field(name=f, dtype=types[t]) for f, t in features],
            source=FileSource(
                path=path,
                timestamp_field="event_timestamp",
                created_timestamp_column="created_timestamp",
            ),
        )
        for name, path, features in views_spec
    ]
    service = FeatureService(name="bench", features=views)
    store = FeatureStore(repo_path=str(root))
    store.apply([user, *views, service])
    for (name, path, _), _view in zip(views_spec, views, strict=True):
        frame = pd.read_parquet(path)
        started = time.perf_counter()
        store.write_to_online_store(name, frame)
        print(f"feast: loaded {name} ({len(frame)} rows) in {time.perf_counter() - started:.1f} s")


def feast_client_child(root: Path, url: str) -> None:
    """In the Feast venv: Feast's SDK with ``online_store: {type: remote}`` against parity."""
    from feast import FeatureStore

    client_root = root.parent / "feast_client"
    client_root.mkdir(exist_ok=True)
    (client_root / "feature_store.yaml").write_text(
        f"project: {FEAST_PROJECT}\nregistry: {root}/registry.db\nprovider: local\n"
        f"online_store:\n  type: remote\n  path: {url}\nentity_key_serialization_version: 3\n"
    )
    store = FeatureStore(repo_path=str(client_root))
    rows = [{"user_id": u} for u in CHECK_USERS]
    service = store.get_feature_service("bench")
    answer = store.get_online_features(features=service, entity_rows=rows).to_dict()
    print("FEAST_CLIENT " + json.dumps(answer))


CHECK_USERS = (0, 17, 4242, 99_999)


def check_feast_client(python: Path, feast_repo: Path, repo: Path, folder: Path) -> str:
    """Feast's SDK reads through parity serve; its answer must equal parity's in-process one."""
    from parity import FeatureStore

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "parity",
        "--repo",
        str(repo),
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    with running(command, port, "/ready", folder, dict(os.environ)):
        done = subprocess.run(
            [
                str(python),
                __file__,
                "--child",
                "feast-client",
                "--root",
                str(feast_repo),
                "--url",
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    line = next((x for x in done.stdout.splitlines() if x.startswith("FEAST_CLIENT ")), None)
    if line is None:
        return f"Feast client failed: {done.stderr.strip().splitlines()[-3:]}"
    feast_answer = json.loads(line.removeprefix("FEAST_CLIENT "))
    with FeatureStore(repo) as store:
        ours = store.get_online_features(
            feature_service="bench", entity_rows=[{"user_id": u} for u in CHECK_USERS]
        ).to_dict()
    same = feast_answer == json.loads(json.dumps(ours))
    return (
        f"Feast 0.67 SDK (online_store type remote) through parity serve: {len(CHECK_USERS)} "
        f"users x {len(ours) - 1} features, answer {'identical to' if same else 'DIFFERENT from'} "
        "parity's in-process get_online_features"
    )


def feast_python() -> Path:
    python = FEAST_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(FEAST_REQUIREMENTS)], check=True
        )
    probe = subprocess.run([str(python), "-c", "import redis"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "feast[redis]==0.67.0"], check=True
        )
    return python


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    port: int, path: str, process: subprocess.Popen[bytes], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


@contextmanager
def running(
    command: list[str], port: int, ready: str, cwd: Path, env: dict[str, str]
) -> Iterator[None]:
    log = open(cwd / f"server-{port}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, ready, process)
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --- load -----------------------------------------------------------------------------------


def single_client(port: int, body_for: Callable[[int], bytes], requests: int) -> dict[str, float]:
    """One keep-alive connection, one request at a time; client-side latency per request."""
    rng = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json"}
    samples = []
    for i in range(500 + requests):
        body = body_for(rng.randrange(100_000))
        start = time.perf_counter_ns()
        try:
            conn.request("POST", "/get-online-features", body=body, headers=headers)
            reply = conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed the keep-alive connection (feast serve's gunicorn recycles
            # a worker every 1,000 requests by default): reconnect, and count the time.
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("POST", "/get-online-features", body=body, headers=headers)
            reply = conn.getresponse()
        data = reply.read()
        elapsed = time.perf_counter_ns() - start
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}: {data[:300]!r}")
        if i >= 500:
            samples.append(elapsed / 1e6)
    conn.close()
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p99": samples[int(len(samples) * 0.99) - 1],
        "max": samples[-1],
        "bytes": len(data),
    }


WRK_SCRIPT = """
math.randomseed(42)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, "/get-online-features", nil, string.format('%s', math.random(0, 99999)))
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    port: int, template: str, connections: int, duration: int, folder: Path
) -> dict[str, float]:
    script = folder / "wrk.lua"
    script.write_text(WRK_SCRIPT % template.replace("%d", "%d"))
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        p[pct] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": p["50"],
        "p99": p["99"],
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def parity_body(user: int) -> bytes:
    return b'{"feature_service":"bench","entity_rows":[{"user_id":%d}]}' % user


def feast_body(user: int) -> bytes:
    return b'{"feature_service":"bench","entities":{"user_id":[%d]}}' % user


PARITY_TEMPLATE = '{"feature_service":"bench","entity_rows":[{"user_id":%d}]}'
FEAST_TEMPLATE = '{"feature_service":"bench","entities":{"user_id":[%d]}}'


def measure(
    name: str,
    port: int,
    body: Callable[[int], bytes],
    template: str,
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    one = single_client(port, body, args.requests)
    print(f"{name}: one client p50 {one['p50']:.3f} ms p99 {one['p99']:.3f} ms", flush=True)
    load = wrk(port, template, args.connections, args.duration, folder)
    print(
        f"{name}: {args.connections} conn {load['rps']:.0f} req/s p99 {load['p99']:.2f} ms",
        flush=True,
    )
    return {"name": name, "one": one, "load": load, "loadavg": (load_before, os.getloadavg()[0])}


def cleanup_redis() -> None:
    import redis

    client = redis.Redis(*REDIS)
    for pattern in (f"{PARITY_PREFIX}:*",):
        keys = list(client.scan_iter(match=pattern, count=10_000))
        for i in range(0, len(keys), 10_000):
            client.delete(*keys[i : i + 10_000])
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="S")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default="1,2", help="parity worker counts to measure")
    parser.add_argument("--feast-workers", type=int, default=2)
    parser.add_argument("--parity-servers", default="uvicorn", help="uvicorn and/or granian")
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--request-log", default="on", help="on, off or on,off (A/B)")
    parser.add_argument("--feast-shape", action="store_true", help="also parity with Feast's body")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--views", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "feast-setup":
        feast_setup_child(Path(args.root), args.views)
        return
    if args.child == "feast-client":
        feast_client_child(Path(args.root), args.url)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    views = latest_tables(args.scale)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        repo = folder / "parity_repo"
        repo.mkdir()
        started = time.perf_counter()
        setup_parity(repo, views)
        print(
            f"parity: repo applied and online store loaded in {time.perf_counter() - started:.1f} s"
        )
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        for server in args.parity_servers.split(","):
            for workers in [int(w) for w in args.workers.split(",")]:
                port = free_port()
                if server == "uvicorn":
                    command = [
                        sys.executable,
                        "-m",
                        "parity",
                        "--repo",
                        str(repo),
                        "serve",
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                        "--log-level",
                        "warning",
                    ]
                    server_env = env
                else:
                    command = [
                        "granian",
                        "--interface",
                        "asgi",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                        "--loop",
                        "uvloop",
                        "--log-level",
                        "warning",
                        "parity.serve.app:app_from_environment",
                    ]
                    metrics_dir = folder / f"metrics-{port}"
                    metrics_dir.mkdir()
                    server_env = (
                        {
                            **env,
                            "PARITY_REPO": str(repo),
                            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                        }
                        if workers > 1
                        else {**env, "PARITY_REPO": str(repo)}
                    )
                for log in args.request_log.split(","):
                    port = free_port()
                    command[command.index("--port") + 1] = str(port)
                    log_env = {
                        **server_env,
                        "PARITY__SERVER__REQUEST_LOG__ENABLED": str(log == "on"),
                    }
                    name = f"parity ({server}, {workers} worker{'s' if workers > 1 else ''}"
                    name += ")" if log == "on" else ", request log off)"
                    with running(command, port, "/ready", folder, log_env):
                        results.append(
                            measure(name, port, parity_body, PARITY_TEMPLATE, args, folder)
                        )
                        if args.feast_shape:
                            results.append(
                                measure(
                                    name + ", Feast body",
                                    port,
                                    feast_body,
                                    FEAST_TEMPLATE,
                                    args,
                                    folder,
                                )
                            )
        if not args.skip_feast:
            python = feast_python()
            feast_repo = folder / "feast_repo"
            feast_repo.mkdir()
            spec = json.dumps([(n, str(p), f) for n, p, f in views])
            started = time.perf_counter()
            subprocess.run(
                [
                    str(python),
                    __file__,
                    "--child",
                    "feast-setup",
                    "--root",
                    str(feast_repo),
                    "--views",
                    spec,
                ],
                check=True,
                env=env,
            )
            seconds = time.perf_counter() - started
            print(f"feast: repo applied and online store loaded in {seconds:.1f} s")
            port = free_port()
            command = [
                str(python.parent / "feast"),
                "-c",
                str(feast_repo),
                "serve",
                "-p",
                str(port),
                "-w",
                str(args.feast_workers),
                "--no-access-log",
            ]
            print(check_feast_client(python, feast_repo, repo, folder), flush=True)
            try:
                with running(command, port, "/health", folder, env):
                    results.append(
                        measure(
                            f"feast serve 0.67 ({args.feast_workers} workers)",
                            port,
                            feast_body,
                            FEAST_TEMPLATE,
                            args,
                            folder,
                        )
                    )
            finally:
                subprocess.run(
                    [str(python.parent / "feast"), "-c", str(feast_repo), "teardown"],
                    check=False,
                    env=env,
                    capture_output=True,
                )
        cleanup_redis()
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    machine = platform.processor() or platform.machine()
    print()
    print(
        f"{machine}, {os.cpu_count()} cores, Python {platform.python_version()}, scale "
        f"{args.scale}, 1 entity x 15 features, Redis {REDIS[0]}:{REDIS[1]}"
    )
    print()
    print(
        f"| server | one client p50 | one client p99 | {args.connections} connections req/s "
        "| p50 | p99 | non-2xx | load avg |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        one, load, avg = r["one"], r["load"], r["loadavg"]
        print(
            f"| {r['name']} | {one['p50']:.2f} ms | {one['p99']:.2f} ms | {load['rps']:.0f} | "
            f"{load['p50']:.2f} ms | {load['p99']:.2f} ms | {load['non_2xx']} | "
            f"{avg[0]:.1f} -> {avg[1]:.1f} |"
        )


if __name__ == "__main__":
    main()
