"""Typed configuration of a feature repository (``parity.yaml``).

One pydantic model per backend, defined beside the backend and registered with its
package's kind registry (:mod:`parity.backends`); each backend section is the
discriminated union on ``type`` of those registrations. Environment variables override
the file:
``PARITY__ONLINE_STORE__URL=redis://127.0.0.1:6380/0`` sets ``online_store.url``.
Unknown keys are errors with a "did you mean".

Example:
    >>> cfg = RepoConfig.model_validate({"project": "fraud", "online_store": {"type": "redis"}})
    >>> cfg.online_store.type
    'redis'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parity.backends import BackendRegistry
from parity.cdc.config import CaptureSettings
from parity.errors import ConfigError, did_you_mean
from parity.monitor.config import MONITOR_FILE, MonitorConfig
from parity.offline import OFFLINE_ENGINES
from parity.offline.duckdb import DuckDBOfflineConfig
from parity.offline.spark_session import SparkOfflineConfig
from parity.online import ONLINE_STORES
from parity.online.redis import RedisOnlineConfig
from parity.online.redis_cluster import RedisClusterOnlineConfig
from parity.online.sqlite import SqliteOnlineConfig
from parity.registry import REGISTRIES
from parity.registry.config import PostgresRegistryConfig, SqliteRegistryConfig
from parity.retrain.config import RetrainConfig
from parity.retrain.registries import MODEL_REGISTRIES
from parity.serve.config import ServerConfig
from parity.storage.config import StorageConfig
from parity.stream.config import StreamSettings
from parity.sync.config import SyncConfig

CONFIG_FILE = "parity.yaml"
ENV_PREFIX = "PARITY__"

# The backend sections: their kinds, config models and "choose one of" lists all come
# from the packages' registries (parity.backends). The aliases mypy sees name today's
# models; the schema pydantic validates is built from the registrations, so a kind
# registered in its package is accepted here with no edit.
_SECTIONS: dict[str, BackendRegistry[object]] = {
    "registry": REGISTRIES,
    "online_store": ONLINE_STORES,
    "offline_store": OFFLINE_ENGINES,
    "retrain.model_registry": MODEL_REGISTRIES,
}

if TYPE_CHECKING:
    RegistryConfig = SqliteRegistryConfig | PostgresRegistryConfig
    OnlineStoreConfig = SqliteOnlineConfig | RedisOnlineConfig | RedisClusterOnlineConfig
    OfflineStoreConfig = DuckDBOfflineConfig | SparkOfflineConfig
else:
    RegistryConfig = REGISTRIES.config_union()
    OnlineStoreConfig = ONLINE_STORES.config_union()
    OfflineStoreConfig = OFFLINE_ENGINES.config_union()


class RepoConfig(BaseModel):
    """The whole of ``parity.yaml``.

    Example:
        >>> RepoConfig(project="fraud").registry.type
        'sqlite'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    registry: RegistryConfig = SqliteRegistryConfig()
    offline_store: OfflineStoreConfig = DuckDBOfflineConfig()
    online_store: OnlineStoreConfig = SqliteOnlineConfig()
    # How to reach s3:// locations (endpoint, region, credentials, concurrent writes).
    storage: StorageConfig = StorageConfig()
    # Promote a pending view version automatically once a sync has validated it.
    auto_promote: bool = False
    sync: SyncConfig = SyncConfig()
    retrain: RetrainConfig = RetrainConfig()
    # How long a server may reuse resolved service pins before re-reading the registry.
    registry_cache_seconds: Annotated[float, Field(ge=0)] = 5.0
    # How old the last registry answer may be and a server still serve the plans it gave
    # (stale-while-revalidate; exported as parity_serving_plan_age_seconds). Past it,
    # reads of a registry that stays unreachable answer 503 RegistryUnreachable.
    registry_max_staleness_seconds: Annotated[float, Field(gt=0)] = 3600.0
    server: ServerConfig = ServerConfig()
    # Freshness, consistency policy, quality bounds, drift thresholds, alert routes and
    # rules (docs/monitoring.md). A ``monitoring.yaml`` beside parity.yaml is still read.
    monitoring: MonitorConfig = MonitorConfig()
    # Change data capture (#18): per CDC source name, where it reads and publishes
    # (`parity cdc run SOURCE`; command-line flags override).
    cdc: dict[str, CaptureSettings] = {}
    # Stream processors (#18): per aggregation view name, `parity stream run VIEW`'s
    # settings (command-line flags override).
    stream: dict[str, StreamSettings] = {}


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay ``PARITY__A__B=value`` variables onto the nested mapping ``data``."""
    overrides = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if path:
            overrides.append((path, raw))
    # Switching a section to another backend drops the file's keys for that section: they
    # belong to the other backend (a SQLite ``path`` means nothing to Redis).
    for path, raw in overrides:
        section = data.get(path[0])
        switched = isinstance(section, dict) and section.get("type") != _env_value(raw)
        if path[1:] == ["type"] and switched:
            data[path[0]] = {}
    # A key of a section the file leaves out overrides that section's default backend.
    for path, _ in overrides:
        field = RepoConfig.model_fields.get(path[0])
        default_type = getattr(field.default, "type", None) if field else None
        if len(path) > 1 and path[0] not in data and default_type is not None:
            data[path[0]] = {"type": default_type}
    for path, raw in overrides:
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = _env_value(raw)
    return data


def _env_value(raw: str) -> Any:
    # YAML scalars: "5432" -> int, "true" -> bool, anything else stays a string.
    return yaml.safe_load(raw) if raw.strip() else raw


def _explain(exc: ValidationError, source: str) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(
            str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-"))
        )
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            parent_fields = _fields_at(err["loc"][:-1])
            lines.append(
                f"unknown key '{loc}'.{did_you_mean(key, parent_fields)} "
                f"Allowed here: {', '.join(sorted(parent_fields))}."
            )
        elif err["type"] == "union_tag_invalid":
            tag = (
                str(err.get("input", {}).get("type", ""))
                if isinstance(err.get("input"), dict)
                else ""
            )
            choices = _tag_choices(loc)
            lines.append(
                f"{loc}.type: unknown backend {tag!r}.{did_you_mean(tag, choices)} "
                f"Choose one of: {', '.join(choices)}."
            )
        elif err["type"] == "union_tag_not_found":
            lines.append(
                f"{loc}.type: missing; every {loc} section names its backend. "
                f"Choose one of: {', '.join(_tag_choices(loc))}."
            )
        else:
            lines.append(f"{loc or '(top level)'}: {err['msg']} (got {err.get('input')!r}).")
    return ConfigError(f"Invalid configuration in {source}:\n  - " + "\n  - ".join(lines))


def _tag_choices(loc: str) -> tuple[str, ...]:
    """The kinds a backend section at ``loc`` may name (from its package's registry)."""
    section = next((r for key, r in _SECTIONS.items() if f"{loc}.".startswith(f"{key}.")), None)
    return () if section is None else section.kinds


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    options = get_args(annotation) or (annotation,)
    return [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc`` (walking sections and, for backends, their type tag)."""
    model: type[BaseModel] = RepoConfig
    parts = [str(p) for p in loc]
    while parts:
        field = model.model_fields.get(parts.pop(0))
        candidates = [] if field is None else _models_of(field.annotation)
        if not candidates:
            break
        model = candidates[0]
        if len(candidates) > 1 and parts:
            tag = parts.pop(0)
            model = next((c for c in candidates if c.model_fields["type"].default == tag), model)
    return [f.alias or name for name, f in model.model_fields.items()]


def _merge_monitoring_file(data: dict[str, Any], root: Path, config_path: Path) -> dict[str, Any]:
    """The settings of a ``monitoring.yaml`` beside parity.yaml as its ``monitoring:`` section
    (the file came first); both at once is ambiguous and refused."""
    file = root / MONITOR_FILE
    if not file.is_file():
        return data
    if "monitoring" in data:
        raise ConfigError(
            f"Monitoring settings are in both {config_path} (monitoring:) and {file}. Keep one: "
            f"move the content of {MONITOR_FILE} under 'monitoring:' in parity.yaml and delete "
            "the file."
        )
    try:
        section = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: expected a mapping, got {type(section).__name__}.")
    return {**data, "monitoring": section}


def load_monitor_config(repo_root: Path) -> MonitorConfig:
    """The monitoring settings of a repository: ``parity.yaml``'s ``monitoring:`` section
    (with ``monitoring.yaml`` and environment overrides applied), or, without a
    parity.yaml, ``monitoring.yaml`` alone, or the defaults.

    Example:
        >>> load_monitor_config(Path("/nonexistent")).drift.min_rows
        200
    """
    if (repo_root / CONFIG_FILE).is_file():
        return load_config(repo_root).monitoring
    path = repo_root / MONITOR_FILE
    if not path.is_file():
        return MonitorConfig()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return MonitorConfig.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"Invalid monitoring settings in {path}: {exc}") from exc


def load_config(repo_path: str | Path, *, environ: Mapping[str, str] | None = None) -> RepoConfig:
    """Read ``parity.yaml`` of a repository and apply environment overrides.

    Example:
        >>> import pathlib, tempfile
        >>> repo = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (repo / "parity.yaml").write_text("project: fraud")
        >>> load_config(repo, environ={}).project
        'fraud'
    """
    path = Path(repo_path) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"No {CONFIG_FILE} in {str(Path(repo_path).resolve())!r}. Run 'parity init NAME' "
            "to create a repository, or pass --repo PATH."
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level, got {type(data).__name__}."
        )
    data = _merge_monitoring_file(data, Path(repo_path), path)
    data = _apply_env(data, os.environ if environ is None else environ)
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, str(path)) from exc
