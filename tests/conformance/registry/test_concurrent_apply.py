"""Two processes applying at the same time never lose an update."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from pathlib import Path
from typing import Any

import parity as p
from parity.definitions import RepoContents
from parity.registry import Actor, ObjectKind, Registry, open_registry

ROUNDS = 8


def _view(name: str, ttl_days: int) -> p.FeatureView:
    user = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
    return p.FeatureView(
        name,
        entities=[user],
        schema=[p.Field("spend", p.Float64)],
        source=p.ParquetSource("data/x.parquet", timestamp_field="ts"),
        ttl=timedelta(days=ttl_days),
    )


def _worker(config: Any, repo_root: str, worker: int, start: Any, errors: Any) -> None:
    try:
        registry = open_registry(config, repo_root=repo_root)
        start.wait(timeout=60)
        for round_ in range(ROUNDS):
            # Both workers make a breaking change to the shared view, and each adds its own view.
            shared = _view("shared", ttl_days=1 + worker * 100 + round_)
            own = _view(f"own_{worker}_{round_}", ttl_days=1)
            registry.apply(
                "race",
                RepoContents.build([shared, own]),
                actor=Actor(f"w{worker}"),
                message=f"{worker}/{round_}",
            )
        registry.close()
    except BaseException as exc:
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}")
        raise


def test_concurrent_applies_from_two_processes_lose_no_update(
    registry_config: Any, registry: Registry, tmp_path: Path
) -> None:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    errors = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(registry_config, str(tmp_path), w, start, errors))
        for w in (1, 2)
    ]
    for proc in workers:
        proc.start()
    start.set()
    for proc in workers:
        proc.join(timeout=120)
    assert errors.empty(), errors.get()
    assert [proc.exitcode for proc in workers] == [0, 0]

    snap = registry.snapshot("race")
    # Every round of both workers changed 'shared' in a breaking way: 2 x ROUNDS versions,
    # numbered without gaps or duplicates.
    shared = snap.history_of(ObjectKind.FEATURE_VIEW, "shared")
    assert [r.version for r in shared] == list(range(1, 2 * ROUNDS + 1))
    # Every view each worker added is there.
    own = [n for n in snap.names(ObjectKind.FEATURE_VIEW) if n.startswith("own_")]
    assert len(own) == 2 * ROUNDS
    # One audit entry per version written, and the generation counts every apply.
    applies = [e for e in registry.history("race", limit=1000) if e.kind is ObjectKind.FEATURE_VIEW]
    assert len(applies) == 2 * ROUNDS + 2 * ROUNDS
    assert snap.generation == 2 * ROUNDS
