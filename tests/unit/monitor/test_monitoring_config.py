"""Monitoring settings: a ``monitoring:`` section of parity.yaml, the older monitoring.yaml,
environment overrides, and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.config import load_config, load_monitor_config
from parity.errors import ConfigError
from parity.monitor.config import InconsistencyPolicy


def repo(tmp_path: Path, parity_yaml: str, monitoring_yaml: str | None = None) -> Path:
    (tmp_path / "parity.yaml").write_text(parity_yaml)
    if monitoring_yaml is not None:
        (tmp_path / "monitoring.yaml").write_text(monitoring_yaml)
    return tmp_path


def test_monitoring_section_of_parity_yaml_is_read(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        "project: p\nmonitoring:\n  consistency: {on_inconsistent: block}\n"
        "  serving: {refresh_seconds: 2}\n",
    )
    config = load_config(root, environ={})
    assert config.monitoring.consistency.on_inconsistent is InconsistencyPolicy.BLOCK
    assert config.monitoring.serving.refresh_seconds == 2
    assert load_monitor_config(root).consistency.on_inconsistent is InconsistencyPolicy.BLOCK


def test_monitoring_yaml_beside_parity_yaml_is_still_read(tmp_path: Path) -> None:
    root = repo(tmp_path, "project: p\n", "drift: {min_rows: 50}\n")
    assert load_config(root, environ={}).monitoring.drift.min_rows == 50


def test_settings_in_both_places_are_refused_naming_both_files(tmp_path: Path) -> None:
    root = repo(tmp_path, "project: p\nmonitoring: {}\n", "drift: {min_rows: 50}\n")
    with pytest.raises(ConfigError, match=r"both .*parity.yaml.*monitoring.yaml"):
        load_config(root, environ={})


def test_environment_overrides_a_monitoring_key(tmp_path: Path) -> None:
    root = repo(tmp_path, "project: p\n")
    environ = {"PARITY__MONITORING__CONSISTENCY__ON_INCONSISTENT": "resync"}
    config = load_config(root, environ=environ)
    assert config.monitoring.consistency.on_inconsistent is InconsistencyPolicy.RESYNC


def test_unknown_monitoring_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    root = repo(tmp_path, "project: p\nmonitoring:\n  consistncy: {}\n")
    with pytest.raises(ConfigError, match=r"monitoring.consistncy.*Did you mean 'consistency'"):
        load_config(root, environ={})


def test_bad_policy_value_names_the_field(tmp_path: Path) -> None:
    root = repo(tmp_path, "project: p\nmonitoring:\n  consistency: {on_inconsistent: stop}\n")
    with pytest.raises(ConfigError, match=r"monitoring.consistency.on_inconsistent.*'stop'"):
        load_config(root, environ={})
