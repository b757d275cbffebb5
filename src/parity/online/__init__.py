"""Online stores: the latest valid value of every feature per entity, per view version.

:func:`open_online_store` builds the backend a typed config names; backend modules are
imported only then, so ``import parity`` never imports ``redis``. Adding a backend is
one module plus one ``ONLINE_STORES.register`` line here (:mod:`parity.backends`).

Example:
    >>> import tempfile
    >>> from parity.online.sqlite import SqliteOnlineConfig
    >>> with open_online_store(SqliteOnlineConfig(), repo_root=tempfile.mkdtemp()) as store:
    ...     store.capabilities.shared
    False
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from parity.backends import BackendConfig, BackendRegistry
from parity.online.base import (
    OnlineCapabilities,
    OnlineRow,
    OnlineStore,
    ReadRequest,
    ScansEntities,
    ViewTable,
    WriteResult,
)
from parity.online.redis import RedisOnlineConfig
from parity.online.redis_cluster import RedisClusterOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig

__all__ = [
    "ONLINE_STORES",
    "OnlineCapabilities",
    "OnlineRow",
    "OnlineStore",
    "OnlineStoreFactory",
    "ReadRequest",
    "ScansEntities",
    "ViewTable",
    "WriteResult",
    "open_online_store",
]


class OnlineStoreFactory(Protocol):
    """How an online store is built: from its own config model, paths under ``repo_root``
    (each backend class is one: ``SqliteOnlineStore(config, repo_root=...)``).

    Example:
        >>> ONLINE_STORES.factory("sqlite").__name__
        'SqliteOnlineStore'
    """

    def __call__(self, config: BackendConfig, /, *, repo_root: str | Path) -> OnlineStore: ...


#: The online store kinds (``online_store.type``); a backend module is imported on first use.
ONLINE_STORES: BackendRegistry[OnlineStoreFactory] = BackendRegistry(
    "online store", section="online_store"
)
ONLINE_STORES.register(
    "sqlite", config=SqliteOnlineConfig, factory="parity.online.sqlite:SqliteOnlineStore"
)
ONLINE_STORES.register(
    "redis", config=RedisOnlineConfig, factory="parity.online.redis:RedisOnlineStore"
)
ONLINE_STORES.register(
    "redis_cluster",
    config=RedisClusterOnlineConfig,
    factory="parity.online.redis_cluster:RedisClusterOnlineStore",
)


def open_online_store(config: BackendConfig, /, *, repo_root: str | Path) -> OnlineStore:
    """Build the online store ``config`` describes; relative SQLite paths are under ``repo_root``.

    Example:
        >>> from parity.online.redis import RedisOnlineConfig
        >>> type(open_online_store(RedisOnlineConfig(), repo_root=".")).__name__
        'RedisOnlineStore'
    """
    return ONLINE_STORES.factory(config.type)(config, repo_root=repo_root)
