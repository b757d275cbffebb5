"""The versioned registry: every version of every definition, pins, audit log, sync runs.

Example:
    >>> from parity.registry import VersionState
    >>> VersionState.SERVING.value
    'serving'
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from parity.backends import BackendConfig, BackendRegistry
from parity.registry.base import (
    Actor,
    AuditEntry,
    ObjectKind,
    Registry,
    RegistrySnapshot,
    ServicePin,
    SyncRecord,
    SyncSchedule,
    VersionRecord,
    VersionState,
)
from parity.registry.classify import ChangeClass, Difference
from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
from parity.registry.plan import Change, Plan, plan_apply

__all__ = [
    "REGISTRIES",
    "Actor",
    "AuditEntry",
    "Change",
    "ChangeClass",
    "Difference",
    "ObjectKind",
    "Plan",
    "Registry",
    "RegistryFactory",
    "RegistrySnapshot",
    "ServicePin",
    "SyncRecord",
    "SyncSchedule",
    "VersionRecord",
    "VersionState",
    "open_registry",
    "plan_apply",
]


class RegistryFactory(Protocol):
    """How a registry is opened from its own config model, paths under ``repo_root``.

    Example:
        >>> REGISTRIES.factory("postgresql").__qualname__
        'SqlRegistry.open'
    """

    def __call__(self, config: BackendConfig, /, *, repo_root: str | Path) -> Registry: ...


#: The registry kinds (``registry.type``); both are SQL databases, opened by one class.
REGISTRIES: BackendRegistry[RegistryFactory] = BackendRegistry("registry", section="registry")
REGISTRIES.register(
    "sqlite", config=SqliteRegistryConfig, factory="parity.registry.sql:SqlRegistry.open"
)
REGISTRIES.register(
    "postgresql", config=PostgresRegistryConfig, factory="parity.registry.sql:SqlRegistry.open"
)


def open_registry(config: BackendConfig, *, repo_root: str | Path) -> Registry:
    """Open the registry a repository's config names (tables are created on first use).

    Example:
        >>> import tempfile
        >>> registry = open_registry(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> registry.snapshot("fraud").names(ObjectKind.FEATURE_VIEW)
        []
        >>> registry.close()
    """
    return REGISTRIES.factory(config.type)(config, repo_root=repo_root)
