"""The retraining ledger on SQLite and PostgreSQL: idempotency by run id, steps, journal,
transitions, and times that come back as UTC whatever the session's time zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.retrain.alerts import MemoryAlertSink
from parity.retrain.config import RetrainConfig
from parity.retrain.ledger import Ledger, RunState, StepState, TransitionState
from parity.retrain.model import LabelSource, Model, RetrainPolicy
from parity.retrain.runner import RESET, run_retrain, unstable_runs
from parity.retrain.wiring import Loop

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
MODEL = Model(
    "m",
    feature_service="s@v1",
    labels=LabelSource("l.parquet", entity_keys=("k",)),
    policy=RetrainPolicy(max_unstable_retrains=2),
)


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine, project="p")


def test_starting_a_run_id_twice_resumes_it_and_only_a_failed_run_restarts(
    ledger: Ledger,
) -> None:
    first = ledger.start_run("m", run_id="r1", trigger="schedule", now=T0)
    again = ledger.start_run("m", run_id="r1", trigger="manual", now=T0 + timedelta(hours=1))
    assert (again.trigger, again.started_at) == ("schedule", T0) == (first.trigger, T0)
    ledger.finish_run("r1", RunState.FAILED, now=T0, details={"error": "x"})
    assert ledger.start_run("m", run_id="r1", trigger="schedule", now=T0).state is RunState.RUNNING
    ledger.finish_run("r1", RunState.PROMOTED, now=T0, details={"champion": "m@v1"})
    done = ledger.start_run("m", run_id="r1", trigger="schedule", now=T0)
    assert (done.state, dict(done.details)) == (RunState.PROMOTED, {"champion": "m@v1"})
    assert [r.run_id for r in ledger.runs("m")] == ["r1"]


def test_a_finished_run_id_is_reported_not_run_again(ledger: Ledger) -> None:
    ledger.start_run("m", run_id="r1", trigger="schedule", now=T0)
    ledger.finish_run("r1", RunState.REJECTED, now=T0, details={"gate": {"passed": False}})
    loop = Loop(None, None, ledger, MemoryAlertSink(), lambda: T0, RetrainConfig())  # type: ignore[arg-type]
    report = run_retrain(loop, MODEL, run_id="r1")  # no store: any step would fail
    assert (report.state, report.outputs) == (RunState.REJECTED, {"gate": {"passed": False}})


def test_steps_are_upserted_in_start_order_and_only_successes_are_reused(
    ledger: Ledger,
) -> None:
    ledger.start_run("m", run_id="r1", trigger="manual", now=T0)
    ledger.record_step("r1", "build", StepState.STARTED, now=T0)
    ledger.record_step("r1", "build", StepState.SUCCEEDED, now=T0, output={"rows": 10})
    ledger.record_step("r1", "train", StepState.STARTED, now=T0)
    ledger.record_step("r1", "train", StepState.FAILED, now=T0, output={"error": "boom"})
    assert ledger.step_output("r1", "build") == {"rows": 10}
    assert ledger.step_output("r1", "train") is None
    steps = ledger.steps("r1")
    assert [(s["step"], s["seq"], s["state"]) for s in steps] == [
        ("build", 0, "succeeded"),
        ("train", 1, "failed"),
    ]


def test_decisions_and_alerts_keep_their_evidence(ledger: Ledger) -> None:
    evidence = {"drift": {"features": [{"feature": "amount", "psi": 0.31}]}, "notes": ["a"]}
    ledger.record_decision("m", action="warn", reasons=["drift"], evidence=evidence, now=T0)
    ledger.record_alert("m", severity="critical", message="boom", evidence={"run_id": "r"}, now=T0)
    [decision] = ledger.decisions("m")
    assert (decision["action"], decision["reasons"], decision["evidence"]) == (
        "warn",
        ["drift"],
        evidence,
    )
    assert [(a["severity"], a["evidence"]) for a in ledger.alerts("m")] == [
        ("critical", {"run_id": "r"})
    ]
    assert ledger.alerts("other") == []


def test_decisions_and_alerts_come_back_at_the_utc_instant_they_were_recorded(
    ledger: Ledger,
) -> None:
    ledger.record_decision("m", action="none", reasons=[], evidence={}, now=T0)
    ledger.record_alert("m", severity="warn", message="w", evidence={}, now=T0)
    [decision] = ledger.decisions("m")
    [alert] = ledger.alerts("m")
    for at in (decision["at"], alert["at"]):
        assert at == T0
        assert at.utcoffset() == timedelta(0)


def test_transitions_are_recorded_pending_then_done_with_their_target(ledger: Ledger) -> None:
    t = ledger.begin_transition("m", kind="promote", target={"previous": 1, "champion": 2})
    assert [x.id for x in ledger.transitions("m", pending=True)] == [t.id]
    ledger.finish_transition(t.id)
    assert ledger.transitions("m", pending=True) == []
    [done] = ledger.transitions("m")
    assert (done.state, list(done.target.items())) == (
        TransitionState.DONE,
        [("previous", 1), ("champion", 2)],  # the write order survives the round trip
    )


@pytest.fixture
def tokyo_engine(postgres_schema: tuple[str, str]) -> Iterator[Engine]:
    """PostgreSQL in a session time zone that is not UTC."""
    url, schema = postgres_schema
    engine = sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg"),
        connect_args={"options": "-c timezone=Asia/Tokyo"},
    ).execution_options(schema_translate_map={None: schema})
    yield engine
    engine.dispose()


def test_loop_breaker_counts_by_instant_whatever_the_session_time_zone(
    tokyo_engine: Engine,
) -> None:
    ledger = Ledger(tokyo_engine, project="p")
    loop = Loop(None, None, ledger, MemoryAlertSink(), lambda: T0, RetrainConfig())  # type: ignore[arg-type]
    ledger.record_decision("m", action=RESET, reasons=["checked"], evidence={}, now=T0)
    # Two hours after the reset: in Tokyo wall time the reset reads 21:00, the run 14:00.
    ledger.start_run("m", run_id="r1", trigger="drift", now=T0 + timedelta(hours=2))
    assert ledger.run("r1").started_at == T0 + timedelta(hours=2)  # type: ignore[union-attr]
    assert unstable_runs(loop, MODEL) == 1
