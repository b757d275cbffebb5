"""``parity.yaml``: typed sections, helpful errors, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.config import RepoConfig, load_config
from parity.errors import ConfigError, ParityError


def _repo(tmp_path: Path, text: str) -> Path:
    (tmp_path / "parity.yaml").write_text(text)
    return tmp_path


def _error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(_repo(tmp_path, text), environ=environ or {})
    return str(info.value)


def test_minimal_config_uses_the_embedded_defaults(tmp_path: Path) -> None:
    config = load_config(_repo(tmp_path, "project: fraud\n"), environ={})
    assert config.project == "fraud"
    assert (config.registry.type, config.registry.path) == ("sqlite", "data/registry.db")
    assert config.offline_store.type == "duckdb"
    assert (config.online_store.type, config.online_store.path) == ("sqlite", "data/online.db")
    assert config.auto_promote is False


def test_full_config_selects_the_production_backends(tmp_path: Path) -> None:
    text = """
project: fraud
registry: {type: postgresql, url: "postgresql://db:5432/p", schema: feats}
offline_store: {type: duckdb, path: lake, threads: 4}
online_store: {type: redis, url: "redis://cache:6379/1", key_prefix: fr}
auto_promote: true
"""
    config = load_config(_repo(tmp_path, text), environ={})
    assert config.registry.type == "postgresql"
    assert config.registry.db_schema == "feats"  # type: ignore[union-attr]
    assert config.offline_store.threads == 4
    assert config.online_store.url == "redis://cache:6379/1"  # type: ignore[union-attr]
    assert config.auto_promote is True


def test_config_is_frozen() -> None:
    config = RepoConfig(project="fraud")
    with pytest.raises(ValueError, match="frozen"):
        config.project = "other"  # type: ignore[misc]


def test_missing_config_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    message = str(info.value)
    assert f"No parity.yaml in {str(tmp_path.resolve())!r}" in message
    assert "parity init NAME" in message
    assert isinstance(info.value, ParityError)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: [unclosed\n")
    assert "parity.yaml: not valid YAML" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    message = _error(tmp_path, "- a\n- b\n")
    assert "expected a mapping at the top level, got list" in message


def test_empty_file_reports_the_missing_project(tmp_path: Path) -> None:
    message = _error(tmp_path, "")
    assert "project: Field required" in message


def test_project_name_must_be_an_identifier(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: fraud-demo\n")
    assert "project:" in message
    assert "'fraud-demo'" in message


def test_unknown_top_level_key_suggests_the_closest(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: p\nonline_stor: {type: sqlite}\n")
    assert "unknown key 'online_stor'. Did you mean 'online_store'?" in message
    allowed = message.split("Allowed here: ")[1].rstrip(".").split(", ")
    assert {"offline_store", "online_store", "project", "registry"} <= set(allowed)
    assert allowed == sorted(allowed)


def test_unknown_key_in_a_backend_section_lists_that_backends_keys(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: p\nonline_store: {type: redis, ulr: 'redis://x'}\n")
    assert "unknown key 'online_store.redis.ulr'. Did you mean 'url'?" in message
    allowed = message.split("Allowed here: ")[1]
    assert "key_prefix" in allowed and "url" in allowed and "path" not in allowed


def test_unknown_key_in_postgres_registry_offers_the_schema_alias(tmp_path: Path) -> None:
    text = "project: p\nregistry: {type: postgresql, url: 'postgresql://x', schemaa: s}\n"
    message = _error(tmp_path, text)
    assert "Did you mean 'schema'?" in message


@pytest.mark.parametrize(
    ("section", "value", "suggestion", "choices"),
    [
        ("online_store", "rediss", "redis", "sqlite, redis, redis_cluster"),
        ("registry", "postgres", "postgresql", "sqlite, postgresql"),
        ("offline_store", "duck", "duckdb", "duckdb, spark"),
    ],
)
def test_unknown_backend_type_suggests_and_lists_the_backends(
    tmp_path: Path, section: str, value: str, suggestion: str, choices: str
) -> None:
    message = _error(tmp_path, f"project: p\n{section}: {{type: {value}}}\n")
    assert f"{section}.type: unknown backend '{value}'. Did you mean '{suggestion}'?" in message
    assert f"Choose one of: {choices}." in message


def test_section_without_a_type_asks_for_one(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: p\nregistry: {url: 'postgresql://x'}\n")
    assert "registry.type: missing" in message
    assert "Choose one of: sqlite, postgresql." in message


def test_wrong_value_type_names_the_key_and_the_value(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: p\noffline_store: {type: duckdb, threads: many}\n")
    assert "offline_store.duckdb.threads" in message
    assert "'many'" in message


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    message = _error(tmp_path, "projec: p\nonline_store: {type: rediss}\n")
    assert "unknown key 'projec'" in message
    assert "unknown backend 'rediss'" in message
    assert "project: Field required" in message


def test_postgres_registry_requires_a_url(tmp_path: Path) -> None:
    message = _error(tmp_path, "project: p\nregistry: {type: postgresql}\n")
    assert "registry.postgresql.url: Field required" in message


SQLITE_FILE = """
project: fraud
online_store:
  type: sqlite
  path: data/online.db
"""


def test_env_overrides_a_nested_key(tmp_path: Path) -> None:
    config = load_config(
        _repo(tmp_path, SQLITE_FILE), environ={"PARITY__ONLINE_STORE__PATH": "/srv/o.db"}
    )
    assert config.online_store.path == "/srv/o.db"  # type: ignore[union-attr]


def test_env_overrides_the_project(tmp_path: Path) -> None:
    config = load_config(_repo(tmp_path, SQLITE_FILE), environ={"PARITY__PROJECT": "staging"})
    assert config.project == "staging"


def test_env_type_switch_drops_the_file_keys_of_the_previous_backend(tmp_path: Path) -> None:
    environ = {"PARITY__ONLINE_STORE__TYPE": "redis"}
    config = load_config(_repo(tmp_path, SQLITE_FILE), environ=environ)
    assert config.online_store.type == "redis"
    assert config.online_store.url == "redis://127.0.0.1:6379/0"  # type: ignore[union-attr]


def test_env_type_switch_keeps_the_other_env_keys_of_that_section(tmp_path: Path) -> None:
    environ = {
        "PARITY__ONLINE_STORE__URL": "redis://cache:6380/3",
        "PARITY__ONLINE_STORE__TYPE": "redis",
        "PARITY__ONLINE_STORE__KEY_PREFIX": "fraud",
    }
    online = load_config(_repo(tmp_path, SQLITE_FILE), environ=environ).online_store
    assert online.type == "redis"
    assert online.url == "redis://cache:6380/3"  # type: ignore[union-attr]
    assert online.key_prefix == "fraud"  # type: ignore[union-attr]


def test_env_type_equal_to_the_file_keeps_the_file_keys(tmp_path: Path) -> None:
    text = "project: p\nonline_store: {type: sqlite, path: custom.db}\n"
    config = load_config(_repo(tmp_path, text), environ={"PARITY__ONLINE_STORE__TYPE": "sqlite"})
    assert config.online_store.path == "custom.db"  # type: ignore[union-attr]


def test_env_builds_a_section_the_file_does_not_have(tmp_path: Path) -> None:
    environ = {
        "PARITY__REGISTRY__TYPE": "postgresql",
        "PARITY__REGISTRY__URL": "postgresql://db:5432/p",
        "PARITY__REGISTRY__CONNECT_TIMEOUT_S": "2.5",
    }
    registry = load_config(_repo(tmp_path, "project: p\n"), environ=environ).registry
    assert registry.type == "postgresql"
    assert registry.connect_timeout_s == 2.5  # type: ignore[union-attr]


def test_env_values_are_read_as_yaml_scalars(tmp_path: Path) -> None:
    environ = {"PARITY__AUTO_PROMOTE": "true", "PARITY__OFFLINE_STORE__THREADS": "8"}
    config = load_config(_repo(tmp_path, "project: p\n"), environ=environ)
    assert config.auto_promote is True
    assert config.offline_store.threads == 8


def test_env_variables_without_the_prefix_are_ignored(tmp_path: Path) -> None:
    environ = {"PARITY_PROJECT": "x", "ONLINE_STORE__TYPE": "redis", "PARITY__": "y"}
    config = load_config(_repo(tmp_path, "project: p\n"), environ=environ)
    assert (config.project, config.online_store.type) == ("p", "sqlite")


def test_unknown_env_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    message = _error(tmp_path, SQLITE_FILE, environ={"PARITY__ONLINE_STORE__PAHT": "x.db"})
    assert "unknown key 'online_store.sqlite.paht'. Did you mean 'path'?" in message


def test_unknown_env_backend_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    message = _error(tmp_path, SQLITE_FILE, environ={"PARITY__ONLINE_STORE__TYPE": "rediss"})
    assert "online_store.type: unknown backend 'rediss'. Did you mean 'redis'?" in message


def test_env_key_of_an_omitted_section_overrides_its_default_backend(tmp_path: Path) -> None:
    environ = {"PARITY__ONLINE_STORE__PATH": "/srv/online.db"}
    online = load_config(_repo(tmp_path, "project: p\n"), environ=environ).online_store
    assert (online.type, online.path) == ("sqlite", "/srv/online.db")  # type: ignore[union-attr]


def test_process_environment_is_used_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY__ONLINE_STORE__TYPE", "redis")
    assert load_config(_repo(tmp_path, SQLITE_FILE)).online_store.type == "redis"
