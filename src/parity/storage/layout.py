"""Where a repository keeps its data: one typed object for every storage location.

The offline root (parity-managed Delta tables), the quarantine of rejected rows (one table
per view under it), the monitoring tables, saved training datasets, the feature server's
request log and model artifacts are all named here and nowhere else. The facade builds
one :class:`StorageLayout` from the configuration (``offline_store.path``,
``server.request_log.path``) and hands it to whoever writes or reads files; no module
joins folder names onto the offline path itself.

Why a leaf module of its own rather than a field of the offline engine's config: the
layout spans several sections (the offline store, the feature server's request log, the
retraining loop's artifacts) and is read by packages below the configuration (sync,
monitor, push, stream, retrain), which must not import :mod:`parity.config`. It imports
nothing of parity, so every package may take one. Locations are resolved once, against
the repository root; a later storage backend (``s3://``) changes this module, not its
readers.

Example:
    >>> layout = StorageLayout.resolve("/repo", offline_path="data/offline")
    >>> layout.quarantine_of("user_stats").as_posix()
    '/repo/data/offline/quarantine/user_stats'
    >>> layout.monitoring_root.as_posix(), layout.request_log_root.as_posix()
    ('/repo/data/offline/monitoring', '/repo/data/offline/request_log')
    >>> StorageLayout.resolve("/repo", offline_path="s3://lake/offline")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    parity.errors.ConfigError: offline_store.path: 's3://lake/offline' is an object-storage URI...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from parity.errors import ConfigError
from parity.storage.object_store import ObjectStorage

__all__ = [
    "DATASETS_DIR",
    "MODELS_PATH",
    "MONITORING_DIR",
    "OFFLINE_PATH",
    "QUARANTINE_DIR",
    "REQUEST_LOG_DIR",
    "StorageLayout",
]

#: Default offline root, relative to the repository (``offline_store.path``).
OFFLINE_PATH = "data/offline"
#: Default model artifacts folder, relative to the repository.
MODELS_PATH = "data/models"
#: Folders under the offline root.
QUARANTINE_DIR = "quarantine"
MONITORING_DIR = "monitoring"
DATASETS_DIR = "datasets"
#: Default request log folder, relative to the offline root (``server.request_log.path``).
REQUEST_LOG_DIR = "request_log"


def _under(root: Path, path: str | Path, *, setting: str) -> Path:
    # An absolute path replaces the root (the configuration's own rule for every path).
    if isinstance(path, str) and "://" in path and not path.startswith("file://"):
        raise ConfigError(
            f"{setting}: {path!r} is an object-storage URI, and this location is on local "
            "disk (or a shared volume) in this release; sources and Delta tables may be on "
            "S3 (docs/deployment.md). Use a path."
        )
    path = Path(path.removeprefix("file://") if isinstance(path, str) else path)
    return path if path.is_absolute() else root / path


@dataclass(frozen=True)
class StorageLayout:
    """The storage locations of one repository, resolved against its root.

    ``offline_root`` holds the parity-managed tables, ``quarantine_root`` (one Delta table
    per view), ``monitoring_root`` (alerts, quality, audits, labels, predictions) and
    ``datasets_root`` (saved training datasets); ``request_log_root`` holds the feature
    server's request log and ``models_root`` the retraining loop's artifacts.

    Example:
        >>> layout = StorageLayout.resolve("/repo", offline_path="/lake",
        ...                                request_log_path="/logs/served")
        >>> layout.datasets_root.as_posix(), layout.request_log_root.as_posix()
        ('/lake/datasets', '/logs/served')
    """

    offline_root: Path
    request_log_root: Path
    models_root: Path
    # How to reach the s3:// locations (sources today; see docs/deployment.md).
    objects: ObjectStorage = field(default_factory=ObjectStorage, compare=False, repr=False)

    @classmethod
    def resolve(
        cls,
        repo_root: str | Path,
        *,
        offline_path: str | Path = OFFLINE_PATH,
        request_log_path: str | Path = REQUEST_LOG_DIR,
        models_path: str | Path = MODELS_PATH,
        objects: ObjectStorage | None = None,
    ) -> StorageLayout:
        """The layout the configuration describes: ``offline_path`` and ``models_path``
        relative to the repository, ``request_log_path`` relative to the offline root
        (absolute paths are taken as they are).

        Example:
            >>> StorageLayout.resolve("/repo").models_root.as_posix()
            '/repo/data/models'
        """
        repo = Path(repo_root)
        offline = _under(repo, offline_path, setting="offline_store.path")
        return cls(
            offline_root=offline,
            request_log_root=_under(offline, request_log_path, setting="server.request_log.path"),
            models_root=_under(repo, models_path, setting="models path"),
            objects=objects if objects is not None else ObjectStorage(),
        )

    @property
    def quarantine_root(self) -> Path:
        """Rejected rows, one Delta table per view (``quarantine_of``).

        Example:
            >>> StorageLayout.resolve("/r").quarantine_root.as_posix()
            '/r/data/offline/quarantine'
        """
        return self.offline_root / QUARANTINE_DIR

    def quarantine_of(self, view: str) -> Path:
        """The quarantine table of one view (all its versions share it).

        Example:
            >>> StorageLayout.resolve("/r").quarantine_of("spend").name
            'spend'
        """
        return self.quarantine_root / view

    @property
    def monitoring_root(self) -> Path:
        """The monitoring tables (:mod:`parity.monitor.records`).

        Example:
            >>> StorageLayout.resolve("/r").monitoring_root.name
            'monitoring'
        """
        return self.offline_root / MONITORING_DIR

    @property
    def datasets_root(self) -> Path:
        """Saved training datasets, one folder each.

        Example:
            >>> StorageLayout.resolve("/r").datasets_root.name
            'datasets'
        """
        return self.offline_root / DATASETS_DIR
