"""One storage layout per repository, resolved once from its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

import parity as p
from parity.storage import StorageLayout


def test_relative_paths_resolve_under_the_repository_and_the_offline_root() -> None:
    layout = StorageLayout.resolve(
        "/repo", offline_path="lake", request_log_path="served", models_path="artifacts"
    )
    assert layout.offline_root == Path("/repo/lake")
    assert layout.quarantine_of("spend") == Path("/repo/lake/quarantine/spend")
    assert layout.monitoring_root == Path("/repo/lake/monitoring")
    assert layout.datasets_root == Path("/repo/lake/datasets")
    assert layout.request_log_root == Path("/repo/lake/served")
    assert layout.models_root == Path("/repo/artifacts")


def test_absolute_paths_are_taken_as_they_are() -> None:
    layout = StorageLayout.resolve("/repo", offline_path="/lake", request_log_path="/logs")
    assert (layout.offline_root, layout.request_log_root) == (Path("/lake"), Path("/logs"))


def test_the_store_and_its_offline_engine_agree_on_the_layout(tmp_path: Path) -> None:
    (tmp_path / "parity.yaml").write_text(
        "project: s\noffline_store: {type: duckdb, path: lake}\n"
        "server: {request_log: {path: /var/log/served}}\n"
    )
    with p.FeatureStore(tmp_path) as store:
        assert store.storage.offline_root == tmp_path.resolve() / "lake"
        assert store.storage.request_log_root == Path("/var/log/served")
        assert store.offline_path == store.storage.offline_root
        engine = store.offline_engine.storage
        assert engine.quarantine_root == store.storage.quarantine_root
        assert engine.datasets_root == store.storage.datasets_root


def test_an_s3_offline_root_is_refused_with_the_setting_named() -> None:
    from parity.errors import ConfigError

    with pytest.raises(ConfigError, match=r"offline_store\.path.*Use a path"):
        StorageLayout.resolve("/repo", offline_path="s3://lake/offline")
    with pytest.raises(ConfigError, match=r"server\.request_log\.path"):
        StorageLayout.resolve("/repo", request_log_path="s3://lake/log")


def test_s3_settings_fall_back_to_the_aws_variables_and_never_print_secrets() -> None:
    from parity.config import RepoConfig
    from parity.storage import ObjectStorage, S3Config

    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIA-FROM-ENV",
        "AWS_SECRET_ACCESS_KEY": "very-secret-from-env",
    }
    resolved = S3Config(region="us-east-2").resolved(environ)
    assert resolved.endpoint_url == "http://127.0.0.1:9000"
    assert resolved.region == "us-east-2"  # the file wins over the environment
    storage = ObjectStorage(resolved)
    options = storage.delta_options("s3://lake/t")
    assert options is not None and options["AWS_SECRET_ACCESS_KEY"] == "very-secret-from-env"
    config = RepoConfig.model_validate(
        {"project": "p", "storage": {"s3": {"secret_access_key": "in-file-secret"}}}
    )
    for text in (repr(storage), str(resolved), repr(config), str(config.model_dump())):
        assert "very-secret-from-env" not in text and "in-file-secret" not in text
