"""Offline engines: point-in-time joins, saved datasets and Delta writes.

:func:`open_offline_engine` builds the engine a typed config names; the engine module is
imported only then. Adding an engine (Spark) is one module plus one line in
:data:`_ENGINES`, and passing ``tests/conformance/offline``.

Example:
    >>> import tempfile
    >>> from parity.offline.duckdb import DuckDBOfflineConfig
    >>> engine = open_offline_engine(DuckDBOfflineConfig(), repo_root=tempfile.mkdtemp())
    >>> type(engine).__name__
    'DuckDBOfflineEngine'
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from parity.errors import ConfigError, did_you_mean
from parity.offline.base import (
    FeatureColumn,
    JoinKey,
    OfflineEngine,
    PointInTime,
    RetrievalJob,
    SourceSpec,
    ViewReadSpec,
)
from parity.offline.writes import WriteReport
from parity.offline.saved_dataset import Lineage, SavedDataset

if TYPE_CHECKING:
    from parity.offline.duckdb import DuckDBOfflineConfig

__all__ = [
    "FeatureColumn",
    "JoinKey",
    "Lineage",
    "OfflineEngine",
    "PointInTime",
    "RetrievalJob",
    "SavedDataset",
    "SourceSpec",
    "ViewReadSpec",
    "WriteReport",
    "open_offline_engine",
]

# config ``type`` -> (module, class); the module is imported on first use.
_ENGINES = {
    "duckdb": ("parity.offline.duckdb", "DuckDBOfflineEngine"),
}


def open_offline_engine(config: DuckDBOfflineConfig, /, *, repo_root: str | Path) -> OfflineEngine:
    """Build the offline engine ``config`` describes; relative paths are under ``repo_root``.

    Example:
        >>> from parity.offline.duckdb import DuckDBOfflineConfig
        >>> type(open_offline_engine(DuckDBOfflineConfig(), repo_root=".")).__name__
        'DuckDBOfflineEngine'
    """
    if config.type not in _ENGINES:
        raise ConfigError(
            f"Unknown offline engine {config.type!r}.{did_you_mean(config.type, _ENGINES)} "
            f"Choose one of: {', '.join(_ENGINES)}."
        )
    module_name, class_name = _ENGINES[config.type]
    engine_class = getattr(importlib.import_module(module_name), class_name)
    engine: OfflineEngine = engine_class(config, repo_root=repo_root)
    return engine
