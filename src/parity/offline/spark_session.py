"""The Spark engine's configuration and session: started once, checked before any work.

Every way a session can fail to come up is a :class:`~parity.errors.ConfigError` naming
the setting and the fix: pyspark missing, no Java runtime, a ``spark://`` master that does
not accept a connection within ``connect_timeout``, a session that fails to start.

Example:
    >>> SparkOfflineConfig(master="local[2]").app_name
    'parity'
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parity.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


_MASTER_SCHEMES = ("local", "spark", "yarn", "k8s", "mesos")


class SparkOfflineConfig(BaseModel):
    """``offline_store: {type: spark, master: "local[*]", app_name: parity, conf: {...}}``.

    ``conf`` is passed to the session builder as is (e.g. ``spark.executor.memory``).
    Saved datasets, quarantine tables and result spill files live under ``path``, which
    must be storage every executor can reach when ``master`` is a cluster.

    Example:
        >>> SparkOfflineConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "8"}).type
        'spark'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["spark"] = "spark"
    path: str = "data/offline"
    master: str = "local[*]"
    app_name: str = "parity"
    conf: dict[str, str] = Field(default_factory=dict)
    batch_rows: int = Field(default=65_536, gt=0)
    # Seconds to wait for a spark:// master to accept a connection before failing.
    connect_timeout: float = Field(default=5.0, gt=0)

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        scheme = value.split("://")[0].split("[")[0]
        if scheme not in _MASTER_SCHEMES:
            raise ValueError(
                f"offline_store.master={value!r} is not a Spark master URL."
                f"{did_you_mean(scheme, _MASTER_SCHEMES)} Use local[*], local[N], "
                "spark://host:7077, yarn or k8s://https://host:443."
            )
        return value


def _require_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return
    if shutil.which("java"):
        return
    raise ConfigError(
        "offline_store.type=spark needs a Java runtime (17 or later), but there is no `java` "
        "on PATH and JAVA_HOME is unset"
        + (f" (JAVA_HOME={home!r} has no bin/java)" if home else "")
        + ". Install one (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME, "
        "or use offline_store.type: duckdb."
    )


def _require_master_reachable(config: SparkOfflineConfig) -> None:
    if not config.master.startswith("spark://"):
        return
    for address in config.master.removeprefix("spark://").split(","):
        parsed = urlparse(f"spark://{address}")
        host, port = parsed.hostname or "", parsed.port or 7077
        try:
            with socket.create_connection((host, port), timeout=config.connect_timeout):
                return
        except OSError as exc:
            last = exc
    raise ConfigError(
        f"offline_store.master={config.master!r} does not answer ({last}) within "
        f"{config.connect_timeout:g}s. Start the Spark master, fix the host and port, or use "
        "master: local[*] to run Spark in this process."
    )


def start_session(config: SparkOfflineConfig) -> SparkSession:
    """A Spark session from ``config``; every failure is a :class:`ConfigError` that names
    the setting and the fix, raised before any work starts.

    Example:
        >>> start_session(SparkOfflineConfig(master="local[2]"))  # doctest: +SKIP
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "offline_store.type=spark needs pyspark, which is not installed. Install it with "
            'pip install "parity[spark]", or use offline_store.type: duckdb.'
        ) from exc
    _require_java()
    _require_master_reachable(config)
    builder = SparkSession.builder.master(config.master).appName(config.app_name)
    for key, value in {"spark.sql.session.timeZone": "UTC", **config.conf}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise ConfigError(
            f"The Spark session (offline_store.master={config.master!r}, "
            f"offline_store.conf={config.conf!r}) failed to start: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}. Check the master "
            "URL, the conf keys and values, and that Java 17+ runs (java -version)."
        ) from exc
    return session


def prepare_session(session: SparkSession) -> None:
    """Set what parity relies on in a session (also one passed in by the caller)."""
    # parity's results are UTC and its Parquet timestamps are microseconds (never INT96).
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
