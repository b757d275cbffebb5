"""The versioned registry: every version of every definition, pins, audit log, sync runs.

Example:
    >>> from parity.registry import VersionState
    >>> VersionState.SERVING.value
    'serving'
"""

from __future__ import annotations

from pathlib import Path

from parity.registry.base import (
    Actor,
    AuditEntry,
    ObjectKind,
    Registry,
    RegistrySnapshot,
    ServicePin,
    SyncRecord,
    VersionRecord,
    VersionState,
)
from parity.registry.classify import ChangeClass, Difference
from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
from parity.registry.plan import Change, Plan, plan_apply

__all__ = [
    "Actor",
    "AuditEntry",
    "Change",
    "ChangeClass",
    "Difference",
    "ObjectKind",
    "Plan",
    "Registry",
    "RegistrySnapshot",
    "ServicePin",
    "SyncRecord",
    "VersionRecord",
    "VersionState",
    "open_registry",
    "plan_apply",
]


def open_registry(
    config: SqliteRegistryConfig | PostgresRegistryConfig, *, repo_root: str | Path
) -> Registry:
    """Open the registry a repository's config names (tables are created on first use)."""
    from parity.registry.sql import SqlRegistry

    return SqlRegistry.open(config, repo_root=repo_root)
