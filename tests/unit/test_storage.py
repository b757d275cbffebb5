"""One storage layout per repository, resolved once from its configuration."""

from __future__ import annotations

from pathlib import Path

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
