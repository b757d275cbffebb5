"""The Spark engine refuses bad setups before any work starts, naming the setting and fix."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from parity.errors import ConfigError
from parity.offline.spark import SparkOfflineConfig, start_session

needs_pyspark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None and os.environ.get("CI") != "true",
    reason='pyspark is not installed (pip install "parity[spark]")',
)


def test_master_url_with_an_unknown_scheme_is_a_config_error_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"master='lcoal\[2\]'.*Did you mean 'local'"):
        SparkOfflineConfig(master="lcoal[2]")


@needs_pyspark
def test_no_java_names_the_setting_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match=r"offline_store.type=spark needs a Java runtime"):
        start_session(SparkOfflineConfig(master="local[1]"))


@needs_pyspark
def test_master_that_does_not_answer_fails_before_any_work() -> None:
    config = SparkOfflineConfig(master="spark://127.0.0.1:1", connect_timeout=1)
    with pytest.raises(ConfigError, match=r"offline_store.master='spark://127.0.0.1:1' does not"):
        start_session(config)


@needs_pyspark
@pytest.mark.slow
def test_session_that_fails_to_start_names_master_and_conf() -> None:
    # A fresh interpreter: in this one a session of the conformance suite may be running,
    # and getOrCreate would hand it back instead of starting the bad one.
    code = textwrap.dedent(
        """
        from parity.errors import ConfigError
        from parity.offline.spark import SparkOfflineConfig, start_session
        try:
            start_session(SparkOfflineConfig(master="local[1]",
                                             conf={"spark.driver.memory": "lots"}))
        except ConfigError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=True
    )
    assert "failed to start" in out.stdout
    assert "offline_store.conf={'spark.driver.memory': 'lots'}" in out.stdout
