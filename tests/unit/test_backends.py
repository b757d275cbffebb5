"""One way to find a backend by its configured kind, and the config schema derived from it."""

from __future__ import annotations

import subprocess
import sys
from typing import Literal

import pytest
from pydantic import BaseModel, ValidationError

from parity.backends import BackendRegistry
from parity.config import RepoConfig
from parity.errors import ConfigError
from parity.offline import OFFLINE_ENGINES
from parity.online import ONLINE_STORES
from parity.registry import REGISTRIES
from parity.retrain.registries import MODEL_REGISTRIES
from parity.stream import StreamSettings
from parity.stream.transports import STREAM_TRANSPORTS


class _MemoryConfig(BaseModel):
    type: Literal["memory"] = "memory"


def test_unknown_kind_names_the_closest_and_every_choice() -> None:
    with pytest.raises(
        ConfigError, match=r"Unknown online store 'rediss'\. Did you mean 'redis'\?"
    ):
        ONLINE_STORES.factory("rediss")
    with pytest.raises(ConfigError, match="Choose one of: builtin, mlflow"):
        MODEL_REGISTRIES.get("mlfow")


def test_a_registered_kind_builds_from_its_dotted_factory() -> None:
    registry: BackendRegistry[type[dict[str, int]]] = BackendRegistry("cache")
    registry.register("memory", config=_MemoryConfig, factory="builtins:dict")
    assert registry.kinds == ("memory",)
    assert registry.factory("memory")() == {}
    assert REGISTRIES.factory("sqlite").__qualname__ == "SqlRegistry.open"


def test_registering_a_kind_twice_or_with_a_mismatched_config_is_refused() -> None:
    registry: BackendRegistry[object] = BackendRegistry("cache")
    registry.register("memory", config=_MemoryConfig, factory="builtins:dict")
    with pytest.raises(ConfigError, match="registered twice"):
        registry.register("memory", config=_MemoryConfig, factory="builtins:dict")
    with pytest.raises(ConfigError, match=r"must declare type: Literal\['disk'\]"):
        registry.register("disk", config=_MemoryConfig, factory="builtins:dict")
    with pytest.raises(ConfigError, match="not 'module:name'"):
        registry.register("other", config=None, factory="builtins.dict")


def test_config_schema_accepts_exactly_the_registered_kinds() -> None:
    from parity.config import _models_of

    sections = {
        "registry": REGISTRIES,
        "online_store": ONLINE_STORES,
        "offline_store": OFFLINE_ENGINES,
    }
    for section, registry in sections.items():
        annotation = RepoConfig.model_fields[section].annotation
        assert tuple(_models_of(annotation)) == registry.config_models()
    config = RepoConfig.model_validate(
        {
            "project": "p",
            "online_store": {"type": "redis"},
            "retrain": {"model_registry": {"type": "mlflow"}},
        }
    )
    assert config.online_store.type == "redis"
    assert config.retrain.model_registry.type == "mlflow"
    assert OFFLINE_ENGINES.kinds == ("duckdb", "spark")
    spark = RepoConfig.model_validate({"project": "p", "offline_store": {"type": "spark"}})
    assert spark.offline_store.type == "spark"


def test_the_did_you_mean_of_every_backend_section_lists_the_registry_kinds() -> None:
    from parity.config import _explain

    with pytest.raises(ValidationError) as info:
        RepoConfig.model_validate(
            {"project": "p", "retrain": {"model_registry": {"type": "mlflo"}}}
        )
    message = str(_explain(info.value, "parity.yaml"))
    assert "retrain.model_registry.type: unknown backend 'mlflo'. Did you mean 'mlflow'?" in message
    assert "Choose one of: builtin, mlflow." in message


def test_stream_settings_accept_only_registered_transports() -> None:
    assert StreamSettings(stream="s", transport="nats").transport == "nats"
    with pytest.raises(
        ValidationError, match=r"Unknown stream transport 'nat'\. Did you mean 'nats'"
    ):
        StreamSettings(stream="s", transport="nat")
    assert STREAM_TRANSPORTS.kinds == ("redis", "nats")


def test_looking_up_kinds_never_imports_a_heavy_dependency() -> None:
    code = (
        "import sys, parity, parity.config, parity.backends, parity.stream.transports; "
        "from parity.online import ONLINE_STORES; from parity.retrain.registries import "
        "MODEL_REGISTRIES; ONLINE_STORES.get('redis'); MODEL_REGISTRIES.config_models(); "
        "heavy = ('redis', 'pyspark', 'mlflow', 'nats'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
