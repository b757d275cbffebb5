"""``init_repo``: the example repository loads, is deterministic and never overwrites."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import parity.scaffold
from parity.config import load_config
from parity.definitions import load_repo
from parity.errors import ConfigError, ParityError
from parity.scaffold import init_repo
from parity.scaffold.sample_data import default_end

END = datetime(2026, 3, 1, tzinfo=UTC)
ROWS = 3_000


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_repo(tmp_path_factory.mktemp("init") / "fraud", project="fraud", rows=ROWS, end=END)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_init_repo_writes_config_definitions_readme_and_data(repo: Path) -> None:
    assert sorted(_files(repo)) == [
        ".gitignore",
        "README.md",
        "data/merchant_risk.parquet",
        "data/transactions.parquet",
        "data/user_profile.parquet",
        "data/user_transaction_stats.parquet",
        "features.py",
        "parity.yaml",
    ]


def test_init_repo_returns_the_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = init_repo(Path("relative"), project="p", rows=200, end=END)
    assert root == tmp_path / "relative"
    assert root.is_absolute()


def test_generated_config_loads_with_the_embedded_defaults(repo: Path) -> None:
    config = load_config(repo, environ={})
    assert config.project == "fraud"
    assert (config.registry.type, config.registry.path) == ("sqlite", "data/registry.db")
    assert (config.offline_store.type, config.offline_store.path) == ("duckdb", "data/offline")
    assert (config.online_store.type, config.online_store.path) == ("sqlite", "data/online.db")


def test_generated_config_documents_production_backends_and_env_override(repo: Path) -> None:
    text = (repo / "parity.yaml").read_text()
    for needle in ("type: postgresql", "type: redis", "PARITY__ONLINE_STORE__URL"):
        assert needle in text


def test_generated_config_switches_to_redis_from_the_environment(repo: Path) -> None:
    environ = {
        "PARITY__ONLINE_STORE__TYPE": "redis",
        "PARITY__ONLINE_STORE__URL": "redis://127.0.0.1:6380/2",
    }
    online = load_config(repo, environ=environ).online_store
    assert online.type == "redis"
    assert online.url == "redis://127.0.0.1:6380/2"  # type: ignore[union-attr]


def test_generated_definitions_load(repo: Path) -> None:
    contents = load_repo(repo)
    assert sorted(contents.entities) == ["merchant", "user"]
    assert sorted(contents.views) == ["merchant_risk", "user_profile", "user_transaction_stats"]
    assert sorted(contents.services) == ["fraud_detection", "fraud_realtime"]
    assert contents.entities["user"].join_key_names == ("user_id",)
    assert contents.entities["merchant"].join_key_names == ("merchant_id",)
    assert all(o == "features.py" for o in contents.origins.values())


def test_generated_views_have_event_and_created_timestamps(repo: Path) -> None:
    for view in load_repo(repo).views.values():
        assert view.source.timestamp_field == "event_timestamp"
        assert view.source.created_timestamp_field == "created_timestamp"


def test_generated_service_lists_features_in_its_declared_order(repo: Path) -> None:
    service = load_repo(repo).services["fraud_detection"]
    assert [s.ref for s in service.selections] == [
        "user_transaction_stats:amount_mean_7d,amount_max_7d,txn_count_7d",
        "user_profile:account_age_days,country",
        "merchant_risk",
    ]


def test_generated_features_file_imports_only_parity_and_the_standard_library(
    repo: Path,
) -> None:
    tree = ast.parse((repo / "features.py").read_text())
    modules = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert modules == {"datetime", "parity"}


def test_generated_readme_names_the_next_commands(repo: Path) -> None:
    text = (repo / "README.md").read_text()
    for command in ("parity plan", 'parity apply -m "', "parity list", "cd fraud"):
        assert command in text
    assert "{{" not in text


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first = init_repo(tmp_path / "a", project="fraud", rows=500, seed=7, end=END)
    second = init_repo(tmp_path / "b", project="fraud", rows=500, seed=7, end=END)
    files_a, files_b = _files(first), _files(second)
    assert files_a.keys() == files_b.keys()
    for name in files_a:
        if name != "README.md":  # the README names the folder
            assert files_a[name] == files_b[name], name


def test_different_seeds_write_different_data(tmp_path: Path) -> None:
    first = init_repo(tmp_path / "a", project="fraud", rows=500, seed=1, end=END)
    second = init_repo(tmp_path / "b", project="fraud", rows=500, seed=2, end=END)
    name = "data/transactions.parquet"
    assert _files(first)[name] != _files(second)[name]


def test_refuses_a_non_empty_folder_and_leaves_it_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError) as info:
        init_repo(tmp_path, project="fraud", rows=200, end=END)
    message = str(info.value)
    assert "not empty" in message
    assert str(tmp_path) in message
    assert isinstance(info.value, ParityError)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_refuses_a_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        init_repo(target, project="fraud", rows=200, end=END)


def test_accepts_an_existing_empty_folder(tmp_path: Path) -> None:
    root = init_repo(tmp_path, project="fraud", rows=200, end=END)
    assert (root / "parity.yaml").is_file()


def test_invalid_project_name_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid project name 'fraud-demo'.*Try 'fraud_demo'"):
        init_repo(tmp_path / "x", project="fraud-demo", rows=200, end=END)
    assert not (tmp_path / "x").exists()


def test_project_name_that_yaml_would_misread_is_quoted(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "x", project="true", rows=200, end=END)
    assert load_config(root, environ={}).project == "true"


@pytest.mark.parametrize("rows", [0, 99, -5, 1.5, True])
def test_rows_must_be_an_integer_of_at_least_100(tmp_path: Path, rows: object) -> None:
    with pytest.raises(
        ConfigError, match=rf"rows must be an integer of at least 100, got {rows!r}"
    ):
        init_repo(tmp_path / "x", project="fraud", rows=rows, end=END)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None])
def test_seed_must_be_a_non_negative_integer(tmp_path: Path, seed: object) -> None:
    with pytest.raises(ConfigError) as info:
        init_repo(tmp_path / "x", project="fraud", rows=200, seed=seed, end=END)  # type: ignore[arg-type]
    assert str(info.value) == f"parity init: seed must be a non-negative integer, got {seed!r}."
    assert not (tmp_path / "x").exists()


def test_end_in_another_time_zone_is_the_same_instant(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=1))
    in_paris = init_repo(tmp_path / "a", project="p", rows=200, end=END.astimezone(paris))
    in_utc = init_repo(tmp_path / "b", project="p", rows=200, end=END)
    assert _files(in_paris) == _files(in_utc) | {"README.md": _files(in_paris)["README.md"]}
    assert "2026-03-01 00:00 UTC" in (in_paris / "README.md").read_text()


def test_naive_end_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParityError, match="naive datetime"):
        init_repo(tmp_path / "x", project="fraud", rows=200, end=datetime(2026, 1, 1))
    assert not (tmp_path / "x").exists()


def test_failure_while_writing_leaves_no_partial_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(parity.scaffold, "_render", fail)
    with pytest.raises(OSError, match="disk full"):
        init_repo(tmp_path / "new", project="fraud", rows=200, end=END)
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(OSError, match="disk full"):
        init_repo(tmp_path / "empty", project="fraud", rows=200, end=END)
    assert list((tmp_path / "empty").iterdir()) == []


def test_default_end_is_midnight_utc_of_today() -> None:
    end = default_end()
    now = datetime.now(UTC)
    assert end.tzinfo is not None and end.utcoffset() is not None
    assert end.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert (end.hour, end.minute, end.second, end.microsecond) == (0, 0, 0, 0)
    assert 0 <= (now - end).total_seconds() < 86_400 + 60
