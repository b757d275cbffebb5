"""Benchmark: ``parity apply`` of a 500-view repository on the SQLite registry.

Target (issue #2): under 3 s. The script generates a repository with 500 explicitly
written feature views (10 features each, 50 entities, 25 services), then times, each in a
fresh process as a user runs it:

1. ``parity plan``   (import definitions + read registry + classify)
2. ``parity apply``  on an empty registry (500 new views)
3. ``parity apply``  again, nothing changed
4. ``parity apply``  after a breaking edit of every view (500 new versions)

and, as the in-run baseline, the bare cost of starting Python and importing the
definition files (``load_repo``), so the ratios show what the registry itself adds.

Run: ``python benchmarks/registry_apply.py [--views 500]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = """from datetime import timedelta

from parity import (
    Entity, FeatureService, FeatureView, Field, Float32, Float64, Int64, ParquetSource, String,
)
"""


def write_repo(root: Path, views: int, ttl_days: int) -> None:
    entities = max(1, views // 10)
    lines = [HEADER]
    for e in range(entities):
        lines.append(f'entity_{e} = Entity("entity_{e}", join_keys=[Field("key_{e}", Int64)])\n')
    for v in range(views):
        fields = ",\n        ".join(
            f'Field("f{v}_{i}", {("Float64", "Float32", "Int64", "String")[i % 4]}'
            + (", min_value=0" if i % 4 != 3 else "")
            + ")"
            for i in range(10)
        )
        lines.append(
            f"""
view_{v} = FeatureView(
    "view_{v}",
    entities=[entity_{v % entities}],
    schema=[
        {fields},
    ],
    source=ParquetSource("data/view_{v}.parquet", timestamp_field="event_timestamp"),
    ttl=timedelta(days={ttl_days}),
    owner="team_{v % 7}",
    description="view number {v}",
)
"""
        )
    for s in range(views // 20):
        refs = ", ".join(f'"view_{v}"' for v in range(s * 20, s * 20 + 20))
        lines.append(
            f'service_{s} = FeatureService("service_{s}", features=[{refs}], '
            "full_feature_names=True)\n"
        )
    (root / "features.py").write_text("".join(lines))
    (root / "parity.yaml").write_text(
        "project: bench\nregistry: {type: sqlite, path: data/registry.db}\n"
    )


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    parity = [sys.executable, "-m", "parity"]
    baseline_cmd = [sys.executable, "-c", "import parity.definitions as d; d.load_repo('.')"]
    figures: dict[str, list[float]] = {
        k: [] for k in ("baseline", "plan", "apply_new", "apply_noop", "apply_breaking")
    }
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repo(root, args.views, ttl_days=2)
            figures["baseline"].append(timed(baseline_cmd, root))
            figures["plan"].append(timed([*parity, "plan"], root))
            figures["apply_new"].append(timed([*parity, "apply", "-m", "bench"], root))
            figures["apply_noop"].append(timed([*parity, "apply", "-m", "bench"], root))
            write_repo(root, args.views, ttl_days=3)
            figures["apply_breaking"].append(timed([*parity, "apply", "-m", "bench"], root))
    base = statistics.median(figures["baseline"])
    print(
        f"parity apply benchmark: {args.views} views x 10 features, SQLite registry, "
        f"median of {args.repeat} runs, each a fresh process (cpu count {os.cpu_count()})"
    )
    print(f"{'step':<44}{'seconds':>9}{'x baseline':>12}")
    labels = {
        "baseline": "baseline: python + import definitions",
        "plan": "parity plan (empty registry)",
        "apply_new": f"parity apply ({args.views} new views)",
        "apply_noop": "parity apply (no change)",
        "apply_breaking": f"parity apply ({args.views} breaking changes)",
    }
    for key, label in labels.items():
        value = statistics.median(figures[key])
        print(f"{label:<44}{value:>9.3f}{value / base:>12.2f}")
    worst = max(
        statistics.median(figures[k]) for k in ("apply_new", "apply_noop", "apply_breaking")
    )
    verdict = "met" if worst < 3 else "NOT met"
    print(f"target: every apply under 3 s -> {verdict} (worst {worst:.3f} s)")


if __name__ == "__main__":
    main()
