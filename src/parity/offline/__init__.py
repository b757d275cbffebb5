"""Offline engines: point-in-time joins, saved datasets and Delta writes.

:func:`open_offline_engine` builds the engine a typed config names; the engine module is
imported only then. Adding an engine (Spark) is one module plus one
``OFFLINE_ENGINES.register`` line here (:mod:`parity.backends`), and passing
``tests/conformance/offline``.

Example:
    >>> import tempfile
    >>> from parity.offline.duckdb import DuckDBOfflineConfig
    >>> engine = open_offline_engine(DuckDBOfflineConfig(), repo_root=tempfile.mkdtemp())
    >>> type(engine).__name__
    'DuckDBOfflineEngine'
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from parity.backends import BackendConfig, BackendRegistry
from parity.offline.base import (
    FeatureColumn,
    JoinKey,
    OfflineEngine,
    PointInTime,
    RetrievalJob,
    SourceSpec,
    ViewReadSpec,
)
from parity.offline.duckdb import DuckDBOfflineConfig
from parity.offline.saved_dataset import Lineage, SavedDataset
from parity.offline.spark_session import SparkOfflineConfig
from parity.offline.writes import WriteReport

__all__ = [
    "OFFLINE_ENGINES",
    "FeatureColumn",
    "JoinKey",
    "Lineage",
    "OfflineEngine",
    "OfflineEngineFactory",
    "PointInTime",
    "RetrievalJob",
    "SavedDataset",
    "SourceSpec",
    "ViewReadSpec",
    "WriteReport",
    "open_offline_engine",
]


class OfflineEngineFactory(Protocol):
    """How an offline engine is built: from its own config model, paths under ``repo_root``
    (each engine class is one: ``DuckDBOfflineEngine(config, repo_root=...)``).

    Example:
        >>> OFFLINE_ENGINES.factory("duckdb").__name__
        'DuckDBOfflineEngine'
    """

    def __call__(self, config: BackendConfig, /, *, repo_root: str | Path) -> OfflineEngine: ...


#: The offline engine kinds (``offline_store.type``); an engine module is imported on first use.
OFFLINE_ENGINES: BackendRegistry[OfflineEngineFactory] = BackendRegistry(
    "offline engine", section="offline_store"
)
OFFLINE_ENGINES.register(
    "duckdb", config=DuckDBOfflineConfig, factory="parity.offline.duckdb:DuckDBOfflineEngine"
)
OFFLINE_ENGINES.register(
    "spark", config=SparkOfflineConfig, factory="parity.offline.spark:SparkOfflineEngine"
)


def open_offline_engine(config: BackendConfig, /, *, repo_root: str | Path) -> OfflineEngine:
    """Build the offline engine ``config`` describes; relative paths are under ``repo_root``.

    Example:
        >>> from parity.offline.duckdb import DuckDBOfflineConfig
        >>> type(open_offline_engine(DuckDBOfflineConfig(), repo_root=".")).__name__
        'DuckDBOfflineEngine'
    """
    return OFFLINE_ENGINES.factory(config.type)(config, repo_root=repo_root)
