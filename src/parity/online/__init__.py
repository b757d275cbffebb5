"""Online stores: the latest valid value of every feature per entity, per view version.

:func:`open_online_store` builds the backend a typed config names; backend modules are
imported only then, so ``import parity`` never imports ``redis``. Adding a backend is
one module plus one line in :data:`_BACKENDS`.

Example:
    >>> import tempfile
    >>> from parity.online.sqlite import SqliteOnlineConfig
    >>> with open_online_store(SqliteOnlineConfig(), repo_root=tempfile.mkdtemp()) as store:
    ...     store.capabilities.shared
    False
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from parity.errors import ConfigError, did_you_mean
from parity.online.base import (
    OnlineCapabilities,
    OnlineRow,
    OnlineStore,
    ReadRequest,
    ScansEntities,
    ViewTable,
    WriteResult,
)

if TYPE_CHECKING:
    from parity.online.redis import RedisOnlineConfig
    from parity.online.sqlite import SqliteOnlineConfig

__all__ = [
    "OnlineCapabilities",
    "OnlineRow",
    "OnlineStore",
    "ReadRequest",
    "ScansEntities",
    "ViewTable",
    "WriteResult",
    "open_online_store",
]

# config ``type`` -> (module, class); the module is imported on first use.
_BACKENDS = {
    "sqlite": ("parity.online.sqlite", "SqliteOnlineStore"),
    "redis": ("parity.online.redis", "RedisOnlineStore"),
}


def open_online_store(
    config: SqliteOnlineConfig | RedisOnlineConfig, /, *, repo_root: str | Path
) -> OnlineStore:
    """Build the online store ``config`` describes; relative SQLite paths are under ``repo_root``.

    Example:
        >>> from parity.online.redis import RedisOnlineConfig
        >>> type(open_online_store(RedisOnlineConfig(), repo_root=".")).__name__
        'RedisOnlineStore'
    """
    if config.type not in _BACKENDS:
        raise ConfigError(
            f"Unknown online store {config.type!r}.{did_you_mean(config.type, _BACKENDS)} "
            f"Choose one of: {', '.join(_BACKENDS)}."
        )
    module_name, class_name = _BACKENDS[config.type]
    backend = getattr(importlib.import_module(module_name), class_name)
    store: OnlineStore = backend(config, repo_root=repo_root)
    return store
