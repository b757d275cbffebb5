"""The sync scheduler on the example repository, with a registry on SQLite or on the real
PostgreSQL server: it runs each view version on its interval (a controlled clock), counts
missed refreshes, and two copies never sync one view version at the same time."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from parity.scaffold import init_repo
from parity.store import FeatureStore
from parity.sync.report import SyncReport
from parity.sync.scheduler import SyncScheduler

END = datetime(2026, 2, 1, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _repo(tmp_path: Path, request: pytest.FixtureRequest, backend: str, schedule: dict) -> Path:
    root = init_repo(tmp_path / "fraud", project="sched", rows=2_000, end=END)
    config = yaml.safe_load((root / "parity.yaml").read_text())
    if backend == "postgresql":
        url, schema = request.getfixturevalue("postgres_schema")
        config["registry"] = {"type": "postgresql", "url": url, "schema": schema}
    config.setdefault("sync", {})["schedule"] = schedule
    (root / "parity.yaml").write_text(yaml.safe_dump(config))
    with FeatureStore(root) as store:
        store.apply(message="test", actor="test")
    return root


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_view_syncs_on_its_interval_and_late_runs_count_missed_refreshes(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    root = _repo(tmp_path, request, backend, {"views": {"user_profile": {"every_seconds": 900}}})
    clock = Clock(END)
    with FeatureStore(root) as store:
        scheduler = store.sync_scheduler(holder="a", clock=clock)

        def outcomes() -> dict[str, str]:
            return {run.ref: run.outcome for run in scheduler.tick()}

        # user_profile from parity.yaml; user_transaction_stats from its refresh_every
        # (1 day); merchant_risk has neither and is not scheduled.
        first = outcomes()
        assert first == {"user_profile@v1": "succeeded", "user_transaction_stats@v1": "succeeded"}
        clock.advance(minutes=5)
        assert outcomes() == {"user_profile@v1": "not due", "user_transaction_stats@v1": "not due"}
        clock.advance(minutes=10)
        assert outcomes()["user_profile@v1"] == "succeeded"
        clock.advance(minutes=50)  # due at +30 min: the +30 and +45 refreshes were missed
        late = {run.ref: run for run in scheduler.tick()}
        assert late["user_profile@v1"].outcome == "succeeded"
        assert late["user_profile@v1"].missed_refreshes == 2
        assert late["user_transaction_stats@v1"].outcome == "not due"

        schedules = {s.view: s for s in store.registry.sync_schedules(store.project)}
        profile = schedules["user_profile"]
        assert profile.next_due_at == clock.now + timedelta(minutes=15)
        assert profile.holder is None  # the lease was freed
        assert profile.decision["reason"] == "fixed: every 900s (parity.yaml sync.schedule)"
        runs = store.registry.sync_records(store.project, "user_profile", 1)
        assert len(runs) == 3


def test_two_scheduler_copies_never_sync_one_view_version_at_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = "postgresql"
    # Every view due on every pass: without the lease both copies would run each one.
    every = {"every_seconds": 0.001}
    root = _repo(
        tmp_path,
        request,
        backend,
        {"views": {v: every for v in ("user_profile", "user_transaction_stats", "merchant_risk")}},
    )
    spans: list[tuple[str, str, float, float]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def copy(holder: str) -> None:
        try:
            with FeatureStore(root) as store:

                def timed(view: str, version: int, at: datetime) -> SyncReport:
                    start = time.monotonic()
                    report = store.sync_controller.materialize_incremental(
                        view, version, end=at, now=at
                    )
                    with lock:
                        spans.append((f"{view}@v{version}", holder, start, time.monotonic()))
                    return report

                scheduler = SyncScheduler(
                    project=store.project,
                    registry=store.registry,
                    run=timed,
                    config=store.config.sync.schedule,
                    holder=holder,
                    clock=lambda: datetime.now(UTC),
                )
                deadline = time.monotonic() + 20
                for _ in range(6):
                    if time.monotonic() > deadline:
                        break
                    scheduler.tick()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=copy, args=(h,)) for h in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(spans) >= 6
    by_view: dict[str, list[tuple[str, float, float]]] = {}
    for ref, holder, start, end in spans:
        by_view.setdefault(ref, []).append((holder, start, end))
    for ref, runs in by_view.items():
        runs.sort(key=lambda r: r[1])
        for (h1, _, end1), (h2, start2, _) in itertools.pairwise(runs):
            assert start2 >= end1, f"{ref}: {h1} and {h2} synced it at the same time"


def test_the_scheduler_command_syncs_and_status_says_why_the_next_sync_is_then(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import json

    from typer.testing import CliRunner

    from parity.cli.main import app

    policy = {"mode": "adaptive", "freshness_target_seconds": 600, "min_interval_seconds": 120}
    root = _repo(tmp_path, request, "sqlite", {"views": {"user_profile": policy}})
    runner = CliRunner()
    ran = runner.invoke(app, ["--repo", str(root), "scheduler", "--once", "--no-retrain"])
    assert ran.exit_code == 0, ran.output
    assert "sync user_profile@v1: succeeded" in ran.output
    shown = runner.invoke(app, ["--repo", str(root), "status", "--view", "user_profile", "--json"])
    assert shown.exit_code == 0, shown.output
    (schedule,) = json.loads(shown.stdout)["schedules"]
    assert schedule["decision"]["mode"] == "adaptive"
    assert schedule["decision"]["interval_seconds"] == 120
    assert "no measured change rate yet" in schedule["decision"]["reason"]


def test_a_failing_scheduled_sync_frees_its_lease_and_is_retried_on_schedule(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = _repo(tmp_path, request, "sqlite", {"views": {"user_profile": {"every_seconds": 600}}})
    (root / "data" / "user_profile.parquet").write_bytes(b"not parquet")  # a corrupt source
    clock = Clock(END)
    with FeatureStore(root) as store:
        scheduler = store.sync_scheduler(holder="a", clock=clock)
        runs = {run.ref: run for run in scheduler.tick()}
        assert runs["user_profile@v1"].outcome == "failed: SyncFailed"
        assert runs["user_transaction_stats@v1"].outcome == "succeeded"  # the others go on
        (profile,) = store.sync_schedules(["user_profile"])
        assert profile.holder is None
        assert profile.next_due_at == END + timedelta(minutes=10)
        assert profile.decision["last_outcome"] == "failed: SyncFailed"
