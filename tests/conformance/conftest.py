"""Fixtures shared by every conformance suite: one SparkSession per test run.

Without pyspark or Java the Spark cases are skipped with the reason on a laptop and fail
under ``CI=true`` (as ``require_service`` does for servers).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Small and quiet: 2 local cores, few shuffle partitions (test data is tiny), no UI.
SPARK_TEST_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "1g",
}


def require_spark() -> None:
    """Skip (or fail under CI=true) when pyspark or a Java runtime is missing."""
    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append('pyspark (pip install "parity[spark]")')
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        missing.append("a Java 17+ runtime")
    if not missing:
        return
    reason = f"the Spark engine needs {' and '.join(missing)}"
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """The one SparkSession of this test run (``local[2]``), started on first use."""
    require_spark()
    from parity.offline.spark import SparkOfflineConfig, start_session

    session = start_session(
        SparkOfflineConfig(master="local[2]", app_name="parity-tests", conf=SPARK_TEST_CONF)
    )
    session.sparkContext.setLogLevel("ERROR")
    # pyspark's first Column call imports IPython when installed, whose jedi raises the
    # recursion limit; hypothesis then warns inside the oracle test. Import it here, once.
    from pyspark.sql import functions as sf

    sf.col("warm_up")
    try:
        yield session
    finally:
        session.stop()
