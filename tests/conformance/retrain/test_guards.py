"""Guards with a controlled clock: rate limit, loop breaker, per-model lock. No sleeps.

Run on SQLite and on PostgreSQL (the ``engine`` fixture of this folder's conftest).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from parity.registry.config import SqliteRegistryConfig
from parity.retrain.alerts import MemoryAlertSink, Severity
from parity.retrain.config import RetrainConfig
from parity.retrain.database import open_engine
from parity.retrain.errors import RetrainBlocked, RunLocked
from parity.retrain.ledger import Ledger, RunState
from parity.retrain.model import LabelSource, Model, RetrainPolicy
from parity.retrain.runner import (
    RESET,
    check_loop_breaker,
    check_rate_limit,
    run_retrain,
    unstable_runs,
)
from parity.retrain.wiring import Loop

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def loop(engine: Engine) -> Loop:
    ledger = Ledger(engine, project="p")
    # Guards need only the ledger, the clock and the alert sink.
    return Loop(None, None, ledger, MemoryAlertSink(), Clock(), RetrainConfig())  # type: ignore[arg-type]


MODEL = Model(
    "m",
    feature_service="s@v1",
    labels=LabelSource("l.parquet", entity_keys=("k",)),
    policy=RetrainPolicy(max_unstable_retrains=2),
)


def _run(loop: Loop, run_id: str, trigger: str = "performance") -> None:
    loop.ledger.start_run(MODEL.name, run_id=run_id, trigger=trigger, now=loop.clock())
    loop.ledger.finish_run(run_id, RunState.PROMOTED, now=loop.clock(), details={})


def test_at_most_one_run_per_model_per_day(loop: Loop) -> None:
    _run(loop, "r1")
    loop.clock.now = T0 + timedelta(hours=23)
    with pytest.raises(RetrainBlocked, match="rate limit"):
        check_rate_limit(loop, MODEL, run_id="r2")
    check_rate_limit(loop, MODEL, run_id="r1")  # resuming the same run is not a new run
    loop.clock.now = T0 + timedelta(hours=24, seconds=1)
    check_rate_limit(loop, MODEL, run_id="r2")


def test_rate_limit_is_configurable(loop: Loop) -> None:
    hourly = Model(
        "m",
        feature_service="s@v1",
        labels=MODEL.labels,
        policy=RetrainPolicy(min_interval=timedelta(hours=1)),
    )
    _run(loop, "r1")
    loop.clock.now = T0 + timedelta(minutes=61)
    check_rate_limit(loop, hourly, run_id="r2")


def test_loop_breaker_trips_after_unstable_retrains_and_a_reset_rearms_it(loop: Loop) -> None:
    for day, run_id in enumerate(("r1", "r2")):
        loop.clock.now = T0 + timedelta(days=day)
        _run(loop, run_id)
    assert unstable_runs(loop, MODEL) == 2
    with pytest.raises(RetrainBlocked, match="loop breaker"):
        check_loop_breaker(loop, MODEL)
    loop.clock.now = T0 + timedelta(days=5)
    loop.ledger.record_decision(
        MODEL.name, action=RESET, reasons=["looked at it"], evidence={}, now=loop.clock()
    )
    check_loop_breaker(loop, MODEL)


def test_breaker_blocks_run_retrain_and_alerts_a_person(loop: Loop) -> None:
    for day, run_id in enumerate(("r1", "r2")):
        loop.clock.now = T0 + timedelta(days=day)
        _run(loop, run_id)
    loop.clock.now = T0 + timedelta(days=3)
    with pytest.raises(RetrainBlocked):
        run_retrain(loop, MODEL, run_id="r3", trigger="performance")
    alerts = loop.alerts.alerts  # type: ignore[attr-defined]
    assert alerts[-1][1] is Severity.CRITICAL and "loop breaker" in alerts[-1][2]
    assert loop.ledger.run("r3") is None


def test_manual_and_scheduled_runs_do_not_count_towards_the_breaker(loop: Loop) -> None:
    _run(loop, "r1", trigger="manual")
    _run(loop, "r2", trigger="schedule")
    _run(loop, "r3", trigger="schedule")
    check_loop_breaker(loop, MODEL)


def test_only_a_healthy_evaluation_on_evidence_rearms_the_breaker(loop: Loop) -> None:
    for day, run_id in enumerate(("r1", "r2")):
        loop.clock.now = T0 + timedelta(days=day)
        _run(loop, run_id, trigger="drift")
    loop.clock.now = T0 + timedelta(days=3)
    nothing = {"drift": None, "performance": None, "notes": ["insufficient data"]}
    loop.ledger.record_decision(
        MODEL.name, action="none", reasons=["no trigger fired"], evidence=nothing, now=T0
    )
    with pytest.raises(RetrainBlocked, match="loop breaker"):
        check_loop_breaker(loop, MODEL)  # too little data proves nothing
    fine = {"drift": None, "performance": {"metric": "roc_auc", "value": 0.9}}
    loop.ledger.record_decision(
        MODEL.name, action="none", reasons=["no trigger fired"], evidence=fine, now=loop.clock()
    )
    check_loop_breaker(loop, MODEL)


def test_lock_refuses_a_second_run_until_released_or_expired(loop: Loop) -> None:
    ttl = timedelta(hours=1)
    loop.ledger.acquire_lock("m", run_id="a", now=T0, ttl=ttl)
    loop.ledger.acquire_lock("m", run_id="a", now=T0, ttl=ttl)  # re-entrant for its holder
    with pytest.raises(RunLocked, match="locked by run 'a'"):
        loop.ledger.acquire_lock("m", run_id="b", now=T0 + timedelta(minutes=5), ttl=ttl)
    loop.ledger.acquire_lock("other", run_id="b", now=T0, ttl=ttl)  # per model
    loop.ledger.acquire_lock("m", run_id="b", now=T0 + timedelta(hours=2), ttl=ttl)  # expired
    assert not loop.ledger.release_lock("m", run_id="a")
    assert loop.ledger.release_lock("m", run_id="b")
    loop.ledger.acquire_lock("m", run_id="c", now=T0, ttl=ttl)


def test_locked_model_refuses_run_retrain_and_alerts(loop: Loop) -> None:
    loop.ledger.acquire_lock("m", run_id="other", now=T0, ttl=timedelta(hours=1))
    with pytest.raises(RunLocked):
        run_retrain(loop, MODEL, run_id="r1", trigger="schedule")
    assert "locked" in loop.alerts.alerts[-1][2]  # type: ignore[attr-defined]


def test_locked_sqlite_database_is_a_transient_recorded_failure(tmp_path: Path) -> None:
    import sqlite3

    import sqlalchemy as sa

    # SQLite only: its write lock is database-wide (PostgreSQL locks rows).
    config = SqliteRegistryConfig(path=str(tmp_path / "registry.db"))
    Ledger(open_engine(config, repo_root=tmp_path), project="p").engine.dispose()

    # Another process holds the database's write lock; our busy timeout is short.
    blocker = sqlite3.connect(tmp_path / "registry.db", isolation_level=None, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(
        f"sqlite:///{tmp_path / 'registry.db'}", connect_args={"timeout": 0.05}
    )
    try:
        with pytest.raises(RunLocked, match="database is locked"):
            Ledger(engine, project="p").acquire_lock(
                "m", run_id="r", now=T0, ttl=timedelta(hours=1)
            )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        engine.dispose()
