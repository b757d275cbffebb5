"""Where a repository keeps its data, and how parity reaches it.

:class:`StorageLayout` names every storage location (:mod:`parity.storage.layout`);
:class:`ObjectStorage` turns a location (a path, ``file://`` or ``s3://`` URI) into what
pyarrow, deltalake and DuckDB take (:mod:`parity.storage.object_store`), configured by
``storage:`` in ``parity.yaml`` (:mod:`parity.storage.config`). A leaf package: it imports
nothing of parity but :mod:`parity.errors`.

Example:
    >>> ObjectStorage().is_remote("s3://lake/offline")
    True
"""

from __future__ import annotations

from parity.storage.config import S3Config, StorageConfig
from parity.storage.layout import (
    DATASETS_DIR,
    MODELS_PATH,
    MONITORING_DIR,
    OFFLINE_PATH,
    QUARANTINE_DIR,
    REQUEST_LOG_DIR,
    StorageLayout,
)
from parity.storage.object_store import ObjectStorage, is_remote, join_location

__all__ = [
    "DATASETS_DIR",
    "MODELS_PATH",
    "MONITORING_DIR",
    "OFFLINE_PATH",
    "QUARANTINE_DIR",
    "REQUEST_LOG_DIR",
    "ObjectStorage",
    "S3Config",
    "StorageConfig",
    "StorageLayout",
    "is_remote",
    "join_location",
]
