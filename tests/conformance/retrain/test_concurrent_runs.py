"""Processes trying to run the same model at the same moment: exactly one runs.

Each round, every worker waits at a barrier and then tries to take the lock of the round's
model in the registry database for its own run id; the winner records its run and keeps
the lock (as a running run does), the others must get :class:`RunLocked`, nothing else.
"""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from parity.retrain.database import open_engine
from parity.retrain.errors import RunLocked
from parity.retrain.ledger import Ledger, RunState

NOW = datetime(2026, 3, 1, tzinfo=UTC)
WORKERS = 3
ROUNDS = 12


def _worker(config: Any, repo_root: str, worker: int, barrier: Any, results: Any) -> None:
    ledger = Ledger(open_engine(config, repo_root=repo_root), project="race")
    for round_ in range(ROUNDS):
        model, run_id = f"m{round_}", f"run-{round_}-{worker}"
        barrier.wait(timeout=60)
        try:
            ledger.acquire_lock(model, run_id=run_id, now=NOW, ttl=timedelta(hours=1))
        except RunLocked:
            results.put((round_, worker, "locked"))
            continue
        except BaseException as exc:
            results.put((round_, worker, f"error {type(exc).__name__}: {exc}"))
            continue
        ledger.start_run(model, run_id=run_id, trigger="schedule", now=NOW)
        results.put((round_, worker, "ran"))
    ledger.engine.dispose()


def test_processes_racing_for_one_model_run_exactly_once(
    registry_config: Any, engine: Engine, tmp_path: Path
) -> None:
    Ledger(engine, project="race")  # tables exist before the race, as after any first run
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(registry_config, str(tmp_path), w, barrier, results))
        for w in range(WORKERS)
    ]
    for proc in workers:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in range(WORKERS * ROUNDS)]
    for proc in workers:
        proc.join(timeout=60)
    errors = [o for o in outcomes if o[2].startswith("error")]
    assert errors == []
    for round_ in range(ROUNDS):
        kinds = sorted(kind for r, _, kind in outcomes if r == round_)
        assert kinds == ["locked"] * (WORKERS - 1) + ["ran"], (round_, kinds)
    ledger = Ledger(engine, project="race")
    for round_ in range(ROUNDS):
        assert [r.state for r in ledger.runs(f"m{round_}")] == [RunState.RUNNING]
