"""Sync controller and SDK serving (issue #4): parity against Feast 0.67, Redis and SQLite.

Usage::

    python benchmarks/sync_and_serving.py                 # scale S, 3 materialization runs each
    python benchmarks/sync_and_serving.py --repeat 1 --calls 500 --skip-feast

Workload (``_workload.py``, scale S): 100,000 users, three views of five features
(float32, float64, int64, float64, string; ~1% nulls, ~1% exact event-time ties broken by
the created timestamp), ttl 2 days, 7 days and none, 1M rows per view over January 2026.
parity's repository declares the three views as ``ParquetSource`` over the generated files
and a feature service ``bench`` of the 15 features; Feast's declares the same views
(``FileSource``, offline store ``file``) and the same service.

1. Materialization, every run in a fresh subprocess (Feast in ``benchmarks/.venv-feast``),
   from an empty online store, runs interleaved: parity ``store.materialize(start, end)``
   and Feast ``store.materialize(start, end)`` of the whole month (3M input rows, 300k
   entity-view rows), each into Redis (127.0.0.1:6379; parity on db 0 under its own key
   prefix, Feast on db 1 under its own project) and into SQLite. The clock covers the
   ``materialize`` call only (repository applied, stores opened). parity's split per step
   comes from its sync records.
2. SDK latency: one long-lived worker process per SDK holds both stores open (the last
   materialization run's); the parent sends blocks of calls to each in turn (same users,
   drawn once), so machine noise hits both alike. parity:
   ``FeatureStore.get_online_features(feature_service="bench", entity_rows=...)``; Feast:
   ``store.get_online_features(features=[15 refs], entity_rows=...)`` (its ``to_dict()``
   is timed separately). In parity's worker, a bare redis-py ``GET`` of one stored value
   (and an ``MGET`` of the 300 values a 100-entity read fetches) is interleaved call by
   call with parity's Redis reads: the baseline of the 1.3x rule.
3. Values: for a sample of users, parity's online values equal Feast's (every feature,
   both backends); mismatches are reported, never hidden.

parity serves at ``now = 2026-02-01`` (the end of the data: ttl windows apply as they
would have then; Feast 0.67 does not apply ttls on reads); the value comparison uses the
stored rows, whatever their age.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _workload import ENTITIES, Workload, workload  # noqa: E402

FEAST_VENV = HERE / ".venv-feast"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PARITY_DB, FEAST_DB = 0, 1
DTYPES = ("float32", "float64", "int64", "float64", "string")
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
SERVE_AT = END
SHAPES = (1, 100)

PARITY_FEATURES = """
from datetime import timedelta

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
        ttl=None if ttl_days is None else timedelta(days=ttl_days),
    )
    for name, path, ttl_days, features in VIEWS
]
for v in views:
    globals()[v.name] = v
bench = FeatureService("bench", features=views)
"""

FEAST_YAML = """project: {project}
registry: {root}/registry.db
provider: local
offline_store:
  type: file
online_store:
{online}
entity_key_serialization_version: 3
"""


def view_specs(wl: Workload) -> list[tuple[str, str, int | None, list[tuple[str, str]]]]:
    return [
        (v.name, str(v.path), v.ttl_days, list(zip(v.features, DTYPES, strict=True)))
        for v in wl.views
    ]


def feature_refs(wl: Workload) -> list[str]:
    return [f"{v.name}:{f}" for v in wl.views for f in v.features]


# --- repositories --------------------------------------------------------------------------


def parity_repo(root: Path, wl: Workload, backend: str, prefix: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    online = (
        f"{{type: redis, url: 'redis://{REDIS_HOST}:{REDIS_PORT}/{PARITY_DB}', "
        f"key_prefix: {prefix}}}"
        if backend == "redis"
        else "{type: sqlite, path: data/online.db}"
    )
    (root / "parity.yaml").write_text(
        "project: bench\n"
        "registry: {type: sqlite, path: data/registry.db}\n"
        "offline_store: {type: duckdb, path: data/offline}\n"
        f"online_store: {online}\n"
        "registry_cache_seconds: 3600\n"
    )
    (root / "features.py").write_text(PARITY_FEATURES.format(views=view_specs(wl)))


def feast_repo(root: Path, backend: str, project: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    online = (
        f'  type: redis\n  connection_string: "{REDIS_HOST}:{REDIS_PORT},db={FEAST_DB}"'
        if backend == "redis"
        else f"  type: sqlite\n  path: {root}/online.db"
    )
    (root / "feature_store.yaml").write_text(
        FEAST_YAML.format(project=project, root=root, online=online)
    )


def feast_objects(wl: Workload) -> list[Any]:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float32, Float64, Int64, String

    types = {"float32": Float32, "float64": Float64, "int64": Int64, "string": String}
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    views = [
        FeatureView(
            name=name,
            entities=[user],
            ttl=timedelta(days=ttl_days or 0),  # 0 means no ttl in Feast
            schema=[Field(name=f, dtype=types[t]) for f, t in features],
            source=FileSource(
                path=path,
                timestamp_field="event_timestamp",
                created_timestamp_column="created_timestamp",
            ),
        )
        for name, path, ttl_days, features in view_specs(wl)
    ]
    return [user, *views, FeatureService(name="bench", features=views)]


# --- materialization children (one fresh process per run) ---------------------------------


def child_parity_materialize(wl: Workload, root: Path) -> dict[str, Any]:
    # Imported before the clock, as Feast's modules are: pyarrow imports pandas on its
    # first conversion of Python values, 0.2-0.4 s once per process on this machine.
    import pandas  # noqa: F401

    from parity import FeatureStore

    with FeatureStore(root) as store:
        store.apply(message="benchmark")
        _ = store.online_store, store.offline_engine  # opened before the clock, as Feast's
        wall, cpu = time.perf_counter(), time.process_time()
        reports = store.materialize(START, END)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        steps: dict[str, float] = {}
        for report in reports:
            [record] = store.registry.sync_records("bench", report.view, report.version, limit=1)
            for step, seconds in record.details["step_seconds"].items():
                steps[step] = steps.get(step, 0.0) + seconds
            assert report.outcome.value == "succeeded", report
            assert report.validation is not None and report.validation.passed, report.validation
        for report in reports:
            store.promote(report.ref, message="benchmark: validated by its sync")
        return {
            "seconds": wall,
            "cpu_seconds": cpu,
            "input_rows": sum(r.rows_read for r in reports),
            "entity_rows": sum(r.rows_written for r in reports),
            "steps": steps,
            "validation": [r.validation.to_dict() for r in reports if r.validation],
        }


def child_feast_materialize(wl: Workload, root: Path) -> dict[str, Any]:
    import logging

    from feast import FeatureStore

    logging.disable(logging.WARNING)
    store = FeatureStore(repo_path=str(root))
    store.apply(feast_objects(wl))
    wall, cpu = time.perf_counter(), time.process_time()
    store.materialize(START, END)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"seconds": wall, "cpu_seconds": cpu}


# --- SDK workers (long-lived, one per SDK, driven over stdin/stdout) ------------------------


class ParityWorker:
    """Both parity stores, plus bare redis-py clients for the baseline."""

    def __init__(self, roots: dict[str, Path], prefix: str) -> None:
        import redis

        from parity import FeatureStore

        self.stores = {backend: FeatureStore(root) for backend, root in roots.items()}
        self.bare = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=PARITY_DB)
        self.namespaces = [f"{prefix}:bench:{v}:v1:".encode() for v in ("v_2d", "v_7d", "v_none")]

    def measure(self, backend: str, users: list[list[int]]) -> dict[str, list[int]]:
        store = self.stores[backend]
        clock = time.perf_counter_ns
        samples: dict[str, list[int]] = {"sdk": []}
        baseline = backend == "redis"
        if baseline:
            samples["bare_get"], samples["bare_mget"] = [], []
            bare, namespaces = self.bare, self.namespaces
        for call in users:
            rows = [{"user_id": u} for u in call]
            start = clock()
            store.get_online_features(feature_service="bench", entity_rows=rows, now=SERVE_AT)
            samples["sdk"].append(clock() - start)
            if baseline:
                if len(call) == 1:
                    key = namespaces[2] + b"%d" % call[0]
                    start = clock()
                    bare.get(key)
                    samples["bare_get"].append(clock() - start)
                else:
                    keys = [ns + b"%d" % u for ns in namespaces for u in call]
                    start = clock()
                    bare.mget(keys)
                    samples["bare_mget"].append(clock() - start)
        return samples

    def values(self, backend: str, users: list[int]) -> dict[str, Any]:
        from parity.online import ReadRequest

        store = self.stores[backend]
        plan = store.serving_plan(feature_service="bench")
        reads = store.online_store.read(
            [ReadRequest(read.table, [(u,) for u in users]) for read in plan.reads]
        )
        stored: list[list[Any]] = [[None] * len(plan.output_names) for _ in users]
        for read, rows in zip(plan.reads, reads, strict=True):
            for i, row in enumerate(rows):
                if row is not None:
                    for pos, out in zip(read.positions, read.outputs, strict=True):
                        stored[i][out] = row.values[pos]
        served = store.get_online_features(
            feature_service="bench", entity_rows=[{"user_id": u} for u in users], now=SERVE_AT
        )
        statuses: dict[str, int] = {}
        for row in served.statuses:
            for status in row:
                statuses[status.value] = statuses.get(status.value, 0) + 1
        return {"names": list(plan.output_names), "values": stored, "statuses": statuses}


class FeastWorker:
    def __init__(self, roots: dict[str, Path], wl: Workload) -> None:
        import logging

        from feast import FeatureStore

        logging.disable(logging.WARNING)
        self.stores = {
            backend: FeatureStore(repo_path=str(root)) for backend, root in roots.items()
        }
        self.refs = feature_refs(wl)

    def measure(self, backend: str, users: list[list[int]]) -> dict[str, list[int]]:
        store, refs = self.stores[backend], self.refs
        clock = time.perf_counter_ns
        samples: dict[str, list[int]] = {"sdk": [], "sdk_to_dict": []}
        for call in users:
            rows = [{"user_id": u} for u in call]
            start = clock()
            response = store.get_online_features(features=refs, entity_rows=rows)
            middle = clock()
            response.to_dict()
            end = clock()
            samples["sdk"].append(middle - start)
            samples["sdk_to_dict"].append(end - start)
        return samples

    def values(self, backend: str, users: list[int]) -> dict[str, Any]:
        out = (
            self.stores[backend]
            .get_online_features(features=self.refs, entity_rows=[{"user_id": u} for u in users])
            .to_dict()
        )
        names = [ref.split(":")[1] for ref in self.refs]
        return {"names": names, "values": [[out[n][i] for n in names] for i in range(len(users))]}


def child_worker(kind: str, args: argparse.Namespace, wl: Workload) -> None:
    roots = {"redis": args.root / "redis", "sqlite": args.root / "sqlite"}
    worker: Any = ParityWorker(roots, args.prefix) if kind == "parity" else FeastWorker(roots, wl)
    print("READY", flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        if message["op"] == "quit":
            break
        if message["op"] == "measure":
            reply: Any = worker.measure(message["backend"], message["users"])
        else:
            reply = worker.values(message["backend"], message["users"])
        print("REPLY " + json.dumps(reply), flush=True)


# --- parent ---------------------------------------------------------------------------------


def feast_python() -> Path:
    python = FEAST_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(
            f"No Feast venv at {FEAST_VENV}: create it with "
            f"'python -m venv {FEAST_VENV} && {python} -m pip install -r "
            f'{HERE / "requirements-feast.txt"} "feast[redis]==0.67.0"\'.'
        )
    return python


def python_for(impl: str) -> str:
    return str(feast_python() if impl == "feast" else Path(sys.executable))


def run_child(impl: str, backend: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        python_for(impl),
        __file__,
        "--child",
        f"{impl}-materialize",
        "--scale",
        args.scale,
        "--root",
        str(root),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    load = os.getloadavg()[0]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=args.timeout
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            result["load"] = load
            return result
    tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
    return {"error": f"exit {done.returncode}: {tail}"}


def drop_redis(db: int, pattern: bytes) -> int:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    removed = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            removed += client.unlink(*batch)
            batch = []
    if batch:
        removed += client.unlink(*batch)
    client.close()
    return removed


def warm_page_cache(wl: Workload) -> None:
    for view in wl.views:
        with open(view.path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def materialize_all(
    wl: Workload, base: Path, args: argparse.Namespace
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Path], dict[str, Path]]:
    """Interleaved runs; every run's stores are dropped except the last run's (served next)."""
    impls = ["parity"] if args.skip_feast else ["parity", "feast"]
    runs: dict[str, list[dict[str, Any]]] = {}
    last: dict[str, Path] = {}
    for attempt in range(args.repeat):
        final = attempt == args.repeat - 1
        for backend in args.backends:
            for impl in impls:
                name = f"{impl} {backend}"
                tag = f"{args.run_tag}_{attempt}"
                root = base / f"{impl}_{backend}_{attempt}"
                if impl == "parity":
                    parity_repo(root, wl, backend, prefix=f"sync_bench_{tag}")
                else:
                    feast_repo(root, backend, project=f"sync_bench_{tag}")
                warm_page_cache(wl)
                result = run_child(impl, backend, root, args)
                print(f"  run {attempt + 1} {name}: {_short(result)}", flush=True)
                runs.setdefault(name, []).append(result)
                if final:
                    last[name] = root
                elif backend == "redis":
                    if impl == "parity":
                        drop_redis(PARITY_DB, f"sync_bench_{tag}:*".encode())
                    else:
                        drop_redis(FEAST_DB, f"*sync_bench_{tag}".encode())
                if not final:
                    shutil.rmtree(root, ignore_errors=True)
    parity_roots = {b: last[f"parity {b}"] for b in args.backends}
    feast_roots = {} if args.skip_feast else {b: last[f"feast {b}"] for b in args.backends}
    return runs, parity_roots, feast_roots


def _short(result: dict[str, Any]) -> str:
    if "error" in result:
        return str(result["error"])
    steps = " ".join(f"{k}={v:.2f}" for k, v in result.get("steps", {}).items())
    return (
        f"{result['seconds']:.2f} s (cpu {result['cpu_seconds']:.2f}) "
        f"load {result['load']:.1f} {steps}"
    )


class Worker:
    """A worker subprocess speaking JSON lines."""

    def __init__(self, impl: str, roots: dict[str, Path], args: argparse.Namespace) -> None:
        base = roots[next(iter(roots))].parent
        links = base / f"{impl}_serving"
        links.mkdir(exist_ok=True)
        for backend, root in roots.items():
            target = links / backend
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(root)
        command = [
            python_for(impl),
            __file__,
            "--child",
            f"{impl}-worker",
            "--scale",
            args.scale,
            "--root",
            str(links),
            "--prefix",
            f"sync_bench_{args.run_tag}_{args.repeat - 1}",
        ]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._expect("READY")

    def _expect(self, word: str) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(word):
                return line[len(word) :].strip()
        raise RuntimeError(f"worker exited ({self.process.wait()})")

    def ask(self, message: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return json.loads(self._expect("REPLY"))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write('{"op": "quit"}\n')
        self.process.stdin.flush()
        self.process.wait(timeout=60)


def serve_all(
    workers: dict[str, Worker], args: argparse.Namespace
) -> tuple[dict[str, list[int]], list[float]]:
    """Blocks of calls, each block of the same users sent to every SDK in turn."""
    rng = random.Random(11)
    samples: dict[str, list[int]] = {}
    loads = []
    blocks = max(1, args.calls // args.block)
    for shape in SHAPES:
        for backend in args.backends:
            for block in range(-1, blocks):  # block -1: warm-up, not recorded
                size = args.warmup if block < 0 else args.block
                users = [[rng.randrange(ENTITIES) for _ in range(shape)] for _ in range(size)]
                order = list(workers) if block % 2 else list(reversed(workers))
                for impl in order:
                    reply = workers[impl].ask({"op": "measure", "backend": backend, "users": users})
                    if block >= 0:
                        for what, values in reply.items():
                            samples.setdefault(f"{impl} {backend} {shape}x15 {what}", []).extend(
                                values
                            )
            loads.append(os.getloadavg()[0])
    return samples, loads


def compare_values(workers: dict[str, Worker], args: argparse.Namespace) -> dict[str, Any]:
    users = random.Random(5).sample(range(ENTITIES), args.sample)
    out: dict[str, Any] = {}
    for backend in args.backends:
        ours = workers["parity"].ask({"op": "values", "backend": backend, "users": users})
        entry: dict[str, Any] = {"users": len(users), "statuses_at_serve_time": ours["statuses"]}
        if "feast" in workers:
            theirs = workers["feast"].ask({"op": "values", "backend": backend, "users": users})
            assert ours["names"] == theirs["names"], (ours["names"], theirs["names"])
            mismatches: dict[str, int] = {}
            examples = []
            cells = 0
            for user, a_row, b_row in zip(users, ours["values"], theirs["values"], strict=True):
                for name, a, b in zip(ours["names"], a_row, b_row, strict=True):
                    cells += 1
                    if not _same(a, b):
                        mismatches[name] = mismatches.get(name, 0) + 1
                        if len(examples) < 5:
                            examples.append(f"user {user} {name}: parity {a!r} feast {b!r}")
            entry.update(cells=cells, mismatches=mismatches, examples=examples)
        out[backend] = entry
    return out


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b)
    return bool(a == b)


def _seconds(results: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in results)


def _pct(values: list[int]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) / 1e6, ordered[int(len(ordered) * 0.99) - 1] / 1e6


def report(
    args: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    samples: dict[str, list[int]],
    loads: list[float],
    values: dict[str, Any],
) -> None:
    print(
        f"\nScale {args.scale}; python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"{args.repeat} materialization runs each (median shown); "
        f"{args.calls} SDK calls per measure after {args.warmup} warm-up, blocks of {args.block}"
    )
    first = next((r for r in runs.get(f"parity {args.backends[0]}", []) if "error" not in r), {})
    print(
        f"\nMaterialization (3 views, {first.get('input_rows', 0):,} input rows, "
        f"{first.get('entity_rows', 0):,} entity-view rows), median run:\n"
    )
    print(
        "| backend | parity s | parity entity rows/s | parity input rows/s | parity CPU s "
        "| Feast s | Feast entity rows/s | Feast CPU s | parity / Feast speed "
        "| parity runs s | Feast runs s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for backend in args.backends:
        ours = [r for r in runs[f"parity {backend}"] if "error" not in r]
        theirs = [r for r in runs.get(f"feast {backend}", []) if "error" not in r]
        p = statistics.median(r["seconds"] for r in ours) if ours else float("nan")
        f = statistics.median(r["seconds"] for r in theirs) if theirs else float("nan")
        entity = ours[0]["entity_rows"] if ours else float("nan")
        inputs = ours[0]["input_rows"] if ours else float("nan")
        p_cpu = statistics.median(r["cpu_seconds"] for r in ours) if ours else float("nan")
        f_cpu = statistics.median(r["cpu_seconds"] for r in theirs) if theirs else float("nan")
        print(
            f"| {backend} | {p:.2f} | {entity / p:,.0f} | {inputs / p:,.0f} | {p_cpu:.2f} "
            f"| {f:.2f} | {entity / f:,.0f} | {f_cpu:.2f} | {f / p:.1f}x "
            f"| {_seconds(ours)} | {_seconds(theirs)} |"
        )
    print("\nparity seconds per sync step (sum over the 3 views), median run:\n")
    steps = ["read_source", "validate", "quarantine_rejects", "reduce_to_latest", "publish"]
    steps.append("validate_version")
    print("| backend | " + " | ".join(steps) + " | total |")
    print("| --- |" + " ---: |" * (len(steps) + 1))
    for backend in args.backends:
        ours = [r for r in runs[f"parity {backend}"] if "error" not in r]
        if not ours:
            continue
        median_run = sorted(ours, key=lambda r: r["seconds"])[len(ours) // 2]
        cells = [f"{median_run['steps'].get(s, 0.0):.3f}" for s in steps]
        print(f"| {backend} | " + " | ".join(cells) + f" | {median_run['seconds']:.3f} |")
    print(
        "\nSDK get_online_features latency, ms "
        f"(load average during: {min(loads):.1f}-{max(loads):.1f}):\n"
    )
    print(
        "| backend | shape | parity p50 | parity p99 | Feast p50 | Feast p99 "
        "| Feast + to_dict p50 | Feast + to_dict p99 | Feast / parity p50 | Feast / parity p99 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for backend in args.backends:
        for shape in SHAPES:
            key = f"{backend} {shape}x15"
            p50, p99 = _pct(samples[f"parity {key} sdk"])
            if f"feast {key} sdk" in samples:
                f50, f99 = _pct(samples[f"feast {key} sdk"])
                d50, d99 = _pct(samples[f"feast {key} sdk_to_dict"])
                print(
                    f"| {backend} | {shape} x 15 | {p50:.3f} | {p99:.3f} | {f50:.3f} | {f99:.3f} "
                    f"| {d50:.3f} | {d99:.3f} | {f50 / p50:.1f}x | {f99 / p99:.1f}x |"
                )
            else:
                print(f"| {backend} | {shape} x 15 | {p50:.3f} | {p99:.3f} | | | | | | |")
    if "redis" in args.backends:
        print(
            "\nBaseline in parity's worker, interleaved call by call with parity's Redis reads:\n"
        )
        print("| bare redis-py | p50 ms | p99 ms | parity / bare p50 | parity / bare p99 |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for what, shape in (("bare_get", 1), ("bare_mget", 100)):
            b50, b99 = _pct(samples[f"parity redis {shape}x15 {what}"])
            p50, p99 = _pct(samples[f"parity redis {shape}x15 sdk"])
            label = "GET 1 key" if shape == 1 else "MGET 300 keys"
            print(f"| {label} | {b50:.3f} | {b99:.3f} | {p50 / b50:.2f}x | {p99 / b99:.2f}x |")
    print("\nValues (same users, both SDKs):\n")
    for backend, entry in values.items():
        print(f"- {backend}: {json.dumps(entry)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["XS", "S", "M"], default="S")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--backends", default="redis,sqlite")
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--child")
    parser.add_argument("--root", type=Path)
    parser.add_argument("--prefix")
    args = parser.parse_args()
    args.backends = args.backends.split(",")
    wl = workload(args.scale)
    if args.child in ("parity-materialize", "feast-materialize"):
        run = (
            child_parity_materialize
            if args.child == "parity-materialize"
            else child_feast_materialize
        )
        result = run(wl, args.root)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(result), flush=True)
        return
    if args.child in ("parity-worker", "feast-worker"):
        child_worker(args.child.split("-")[0], args, wl)
        return

    args.run_tag = f"{os.getpid()}"
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        base = Path(tmp)
        try:
            runs, parity_roots, feast_roots = materialize_all(wl, base, args)
            workers = {"parity": Worker("parity", parity_roots, args)}
            if feast_roots:
                workers["feast"] = Worker("feast", feast_roots, args)
            try:
                values = compare_values(workers, args)
                samples, loads = serve_all(workers, args)
            finally:
                for worker in workers.values():
                    worker.close()
        finally:
            drop_redis(PARITY_DB, f"sync_bench_{args.run_tag}_*".encode())
            drop_redis(FEAST_DB, f"*sync_bench_{args.run_tag}_*".encode())
    report(args, runs, samples, loads, values)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
