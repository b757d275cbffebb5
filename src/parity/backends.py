"""One way to find a backend by the kind its configuration names.

Each package that has backends holds one :class:`BackendRegistry`: online stores
(:data:`parity.online.ONLINE_STORES`), offline engines (:data:`parity.offline.OFFLINE_ENGINES`),
registries (:data:`parity.registry.REGISTRIES`), model registries
(:data:`parity.retrain.registries.MODEL_REGISTRIES`) and stream transports
(:data:`parity.stream.transports.STREAM_TRANSPORTS`). A kind is registered with its config
model (a light pydantic class) and the dotted path of the callable that builds the
backend; that module is imported only when a backend of the kind is built, so
``import parity`` never imports redis, pyspark, mlflow or nats. ``parity.config`` derives
the schema's discriminated unions and its "choose one of" lists from the same registries.

Adding a backend is one module plus one registration line in its package.

This module is a leaf: it imports nothing of parity but :mod:`parity.errors`.

Example:
    >>> from pydantic import BaseModel
    >>> from typing import Literal
    >>> class MemoryConfig(BaseModel):
    ...     type: Literal["memory"] = "memory"
    >>> CACHES: BackendRegistry[type[dict[str, int]]] = BackendRegistry("cache", section="cache")
    >>> CACHES.register("memory", config=MemoryConfig, factory="builtins:dict")
    >>> CACHES.kinds
    ('memory',)
    >>> CACHES.factory("memory")()
    {}
    >>> CACHES.factory("memroy")
    Traceback (most recent call last):
    ...
    parity.errors.ConfigError: Unknown cache 'memroy'. Did you mean 'memory'? Choose one of: memory.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar, Union, cast

from pydantic import BaseModel, Field

from parity.errors import ConfigError, did_you_mean

FactoryT = TypeVar("FactoryT", covariant=True)


class BackendConfig(Protocol):
    """What every backend config model has: the ``type`` that names its kind.

    Example:
        >>> from parity.online.redis import RedisOnlineConfig
        >>> config: BackendConfig = RedisOnlineConfig()
        >>> config.type
        'redis'
    """

    @property
    def type(self) -> str:
        """The kind, e.g. ``"redis"``."""


@dataclass(frozen=True)
class BackendKind:
    """One registered kind: its config model and where its builder lives.

    ``factory`` is ``"module:attribute"`` (``attribute`` may be dotted, e.g.
    ``"parity.registry.sql:SqlRegistry.open"``); ``config`` is ``None`` for kinds configured
    by their caller's settings rather than a section of their own (stream transports).

    Example:
        >>> BackendKind("redis", None, "parity.stream.redis_streams:RedisStreamsTransport").module
        'parity.stream.redis_streams'
    """

    kind: str
    config: type[BaseModel] | None
    factory: str

    @property
    def module(self) -> str:
        """The module imported when a backend of this kind is built."""
        return self.factory.partition(":")[0]


class BackendRegistry(Generic[FactoryT]):
    """The kinds of one sort of backend, in registration order.

    ``FactoryT`` is the type of the registered builders (a class or a protocol of a
    callable); ``what`` names the sort in errors (``"online store"``) and ``section`` is the
    ``parity.yaml`` key of its configuration, when it has one.

    Example:
        >>> from parity.online import ONLINE_STORES
        >>> ONLINE_STORES.kinds
        ('sqlite', 'redis', 'redis_cluster')
    """

    def __init__(self, what: str, *, section: str | None = None) -> None:
        self.what = what
        self.section = section
        self._kinds: dict[str, BackendKind] = {}

    def register(self, kind: str, *, config: type[BaseModel] | None, factory: str) -> None:
        """Add a kind; its config model's ``type`` must default to ``kind``.

        Example:
            >>> TRANSPORTS: BackendRegistry[object] = BackendRegistry("transport")
            >>> TRANSPORTS.register("pipe", config=None, factory="builtins:object")
            >>> "pipe" in TRANSPORTS
            True
        """
        if kind in self._kinds:
            raise ConfigError(f"The {self.what} kind {kind!r} is registered twice.")
        if ":" not in factory:
            raise ConfigError(f"{self.what} {kind!r}: factory {factory!r} is not 'module:name'.")
        if config is not None:
            field = config.model_fields.get("type")
            if field is None or field.default != kind:
                raise ConfigError(
                    f"{self.what} {kind!r}: the config model {config.__name__} must declare "
                    f"type: Literal[{kind!r}] = {kind!r}."
                )
        self._kinds[kind] = BackendKind(kind, config, factory)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    @property
    def kinds(self) -> tuple[str, ...]:
        """The registered kinds, in registration order (the first is the default)."""
        return tuple(self._kinds)

    def get(self, kind: str) -> BackendKind:
        """The registration of ``kind``; an unknown kind is a :class:`ConfigError` with a
        "did you mean" and the list of kinds.

        Example:
            >>> from parity.online import ONLINE_STORES
            >>> ONLINE_STORES.get("redis").module
            'parity.online.redis'
        """
        try:
            return self._kinds[kind]
        except KeyError:
            raise ConfigError(
                f"Unknown {self.what} {kind!r}.{did_you_mean(kind, self._kinds)} "
                f"Choose one of: {', '.join(self._kinds)}."
            ) from None

    def check(self, kind: str) -> str:
        """``kind`` if it is registered, else the :meth:`get` error (for validators).

        Example:
            >>> from parity.online import ONLINE_STORES
            >>> ONLINE_STORES.check("sqlite")
            'sqlite'
        """
        return self.get(kind).kind

    def factory(self, kind: str) -> FactoryT:
        """The builder of ``kind``, importing its module now (and only now).

        Example:
            >>> from parity.online import ONLINE_STORES
            >>> ONLINE_STORES.factory("sqlite").__name__
            'SqliteOnlineStore'
        """
        module_name, _, attribute = self.get(kind).factory.partition(":")
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
        return cast(FactoryT, found)

    def config_models(self) -> tuple[type[BaseModel], ...]:
        """The config models of the kinds that have one, in registration order.

        Example:
            >>> from parity.online import ONLINE_STORES
            >>> [m.__name__ for m in ONLINE_STORES.config_models()]
            ['SqliteOnlineConfig', 'RedisOnlineConfig', 'RedisClusterOnlineConfig']
        """
        return tuple(k.config for k in self._kinds.values() if k.config is not None)

    def config_union(self) -> Any:
        """The pydantic annotation of a section naming one of these kinds by ``type``.

        ``Any`` because it is built at run time; ``parity.config`` gives the field a static
        type for mypy.

        Example:
            >>> from pydantic import TypeAdapter
            >>> from parity.online import ONLINE_STORES
            >>> TypeAdapter(ONLINE_STORES.config_union()).validate_python({"type": "redis"}).url
            'redis://127.0.0.1:6379/0'
        """
        models = self.config_models()
        if not models:
            raise ConfigError(f"No {self.what} kind has a config model.")
        # One kind alone is still discriminated, so its errors read like a union's.
        union = models[0] if len(models) == 1 else Union[models]  # noqa: UP007
        return Annotated[union, Field(discriminator="type")]
