"""A registry created by the previous release (commit 3ca94c0, before migrations) upgrades
in place on SQLite and PostgreSQL, every row intact, with no hand-written SQL.

The previous release's code is taken from git (``git archive 3ca94c0 src``) and run in a
subprocess: it builds a repository, applies, promotes, materializes and takes a retraining
lock, then prints what it stored. The current code opens the same database, upgrades it and
must read back exactly that.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import IN_CI

from parity import FeatureStore
from parity.config import load_config
from parity.registry.migrations import HEAD, schema_revision

PREVIOUS_RELEASE = "3ca94c0"
END = datetime(2026, 3, 1, tzinfo=UTC)

# Runs under the previous release's code: builds state, prints it as JSON.
OLD_SCRIPT = """
import json, sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from parity import FeatureStore
from parity.config import load_config
from parity.scaffold import init_repo
from parity.retrain.database import open_engine
from parity.retrain.ledger import Ledger

root, environ = Path(sys.argv[1]), json.loads(sys.argv[2])
end = datetime(2026, 3, 1, tzinfo=timezone.utc)
init_repo(root, project="mig", rows=200, end=end)
store = FeatureStore(root, config=load_config(root, environ=environ))
store.apply(message="created by the previous release")
store.promote("user_transaction_stats@v1", message="serve it", force=True)
store.materialize(end - timedelta(days=30), end, views=["user_transaction_stats"])
ledger = Ledger(open_engine(store.config.registry, repo_root=root), project="mig")
ledger.acquire_lock("fraud_model", run_id="run-1", now=end, ttl=timedelta(days=3650))
print(json.dumps(STATE(store)))
"""


STATE_SOURCE = """
def STATE(store):
    return {
        "versions": sorted(
            [r.ref, r.state.value, r.fingerprint] for r in store.list_feature_views()
        ),
        "audit": sorted([e.action, e.name, e.message] for e in store.history(limit=1000)),
        "syncs": sorted(
            [s.run_id, s.view, s.view_version, s.outcome, s.rows_written]
            for s in store.registry.sync_records(store.project, "user_transaction_stats")
        ),
    }
"""
# One definition of "what a registry holds", run by both releases.
_namespace: dict[str, Any] = {}
exec(STATE_SOURCE, _namespace)
state = _namespace["STATE"]


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's ``src`` folder, from git."""
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        ["git", "-C", str(repo), "archive", PREVIOUS_RELEASE, "src"],
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        reason = f"commit {PREVIOUS_RELEASE} is not in this clone ({done.stderr.decode()[:200]})"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true, so this is a failure.", pytrace=False)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("previous_release")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(out, filter="data")
    return out / "src"


def build_with_previous_release(src: Path, root: Path, environ: dict[str, str]) -> Any:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", STATE_SOURCE + OLD_SCRIPT, str(root), json.dumps(environ)],
        capture_output=True,
        env=env,
        timeout=300,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def upgrade_and_compare(root: Path, environ: dict[str, str], before: Any) -> None:
    from parity.retrain.database import open_engine
    from parity.retrain.ledger import Ledger

    config = load_config(root, environ=environ)
    with FeatureStore(root, config=config) as store:
        done = store.upgrade_registry()
        assert (done.from_revision, done.to_revision) == (None, HEAD)
        assert state(store) == before
        assert before["versions"] and before["syncs"] and before["audit"]
        engine = open_engine(store.config.registry, repo_root=root)
        try:
            assert schema_revision(engine) == HEAD
            # The lock the previous release took is still held by its run.
            ledger = Ledger(engine, project="mig")
            with pytest.raises(Exception, match="run-1"):
                ledger.acquire_lock("fraud_model", run_id="run-2", now=END, ttl=timedelta(hours=1))
        finally:
            engine.dispose()
    with FeatureStore(root, config=config) as again:  # a second open changes nothing
        assert not again.upgrade_registry().changed
        assert state(again) == before


def test_sqlite_registry_of_the_previous_release_upgrades_with_data_intact(
    previous_release: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    before = build_with_previous_release(previous_release, root, {})
    engine = sa.create_engine(f"sqlite:///{root / 'data' / 'registry.db'}")
    assert schema_revision(engine) is None  # the previous release knew no migrations
    upgrade_and_compare(root, {}, before)


@pytest.mark.postgres
def test_postgres_registry_of_the_previous_release_upgrades_with_data_intact(
    previous_release: Path, tmp_path: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    environ = {
        "PARITY__REGISTRY__TYPE": "postgresql",
        "PARITY__REGISTRY__URL": url,
        "PARITY__REGISTRY__SCHEMA": schema,
    }
    root = tmp_path / "repo"
    before = build_with_previous_release(previous_release, root, environ)
    upgrade_and_compare(root, environ, before)


def test_migrations_build_exactly_the_tables_the_code_defines(tmp_path: Path) -> None:
    """Changing a table in code without a new revision fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from parity.registry import tables as registry_tables
    from parity.registry.migrations import upgrade_schema
    from parity.retrain.ledger import tables as ledger_tables
    from parity.retrain.registries import builtin

    combined = sa.MetaData()
    for metadata in (registry_tables.metadata, ledger_tables.metadata, builtin.metadata):
        for table in metadata.sorted_tables:
            table.to_metadata(combined)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        upgrade_schema(engine)
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), combined)
    finally:
        engine.dispose()
    ignored = {"parity_schema_version", "parity_schema_lock"}
    diffs = [d for d in diffs if not (d[0] == "remove_table" and d[1].name in ignored)]
    assert diffs == []


def _open_at_once(config: Any, repo_root: str, start: Any, results: Any) -> None:
    from parity.registry import open_registry

    try:
        start.wait(timeout=60)
        registry = open_registry(config, repo_root=repo_root)
        results.put(("ok", registry.schema_upgrade.from_revision))  # type: ignore[attr-defined]
        registry.close()
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


def _race_first_open(config: Any, repo_root: Path) -> list[tuple[str, str | None]]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(4), context.Queue()
    workers = [
        context.Process(target=_open_at_once, args=(config, str(repo_root), start, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return [results.get(timeout=10) for _ in workers]


def test_processes_opening_a_fresh_sqlite_registry_at_once_upgrade_it_once(
    tmp_path: Path,
) -> None:
    from parity.registry.config import SqliteRegistryConfig

    outcomes = _race_first_open(SqliteRegistryConfig(path="registry.db"), tmp_path)
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    # Exactly one process found no revision and upgraded; the others found it current.
    assert sorted(str(before) for _, before in outcomes) == [HEAD, HEAD, HEAD, "None"]


@pytest.mark.postgres
def test_processes_opening_a_fresh_postgres_registry_at_once_upgrade_it_once(
    tmp_path: Path, postgres_schema: tuple[str, str]
) -> None:
    from parity.registry.config import PostgresRegistryConfig

    url, schema = postgres_schema
    config = PostgresRegistryConfig.model_validate({"url": url, "schema": schema})
    outcomes = _race_first_open(config, tmp_path)
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert sorted(str(before) for _, before in outcomes) == [HEAD, HEAD, HEAD, "None"]
