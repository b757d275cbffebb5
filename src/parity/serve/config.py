"""Configuration of the feature server: the ``server:`` section of ``parity.yaml``.

Every key can be overridden from the environment like the rest of the file, e.g.
``PARITY__SERVER__PORT=8080`` or ``PARITY__SERVER__REQUEST_LOG__ENABLED=false``. API keys
are stored as hashes only (``parity serve hash-key`` prints one); with no key configured
the server runs in local development mode and says so loudly at start-up.

Example:
    >>> cfg = ServerConfig.model_validate({"port": 8080, "api_keys": [
    ...     {"name": "ranker", "hash": "sha256:" + "0" * 64, "scopes": ["read"]}]})
    >>> cfg.port, cfg.api_keys[0].scopes
    (8080, (<Scope.READ: 'read'>,))
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parity.push.config import PushConfig

HASH_PREFIX = "sha256:"


class Scope(enum.StrEnum):
    """What an API key may do."""

    # Read feature vectors and the registry.
    READ = "read"
    # Write rows through /push.
    PUSH = "push"
    # Everything, including /metrics.
    ADMIN = "admin"


class ApiKeyConfig(BaseModel):
    """One API key: a name for logs and metrics, the key's hash and its scopes.

    Example:
        >>> ApiKeyConfig(name="ci", hash="sha256:" + "ab" * 32, scopes=["push"]).name
        'ci'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    hash: str
    scopes: tuple[Scope, ...] = (Scope.READ,)

    @field_validator("hash")
    @classmethod
    def _check_hash(cls, value: str) -> str:
        digest = value.removeprefix(HASH_PREFIX)
        if not value.startswith(HASH_PREFIX) or len(digest) != 64:
            raise ValueError(
                "expected 'sha256:<64 hex digits>' (run 'parity serve hash-key' to make one); "
                "never put a plaintext key in parity.yaml"
            )
        try:
            bytes.fromhex(digest)
        except ValueError:
            raise ValueError(f"{value[:20]}...: the digest is not hexadecimal") from None
        return HASH_PREFIX + digest.lower()


class RequestLogConfig(BaseModel):
    """The log of every served vector, written off the hot path under the offline store.

    ``path`` is relative to the offline store path. ``max_pending_rows`` bounds memory:
    above half of it only a sample of requests is kept, at the bound new rows are dropped;
    both are counted in ``/metrics`` and kept rows carry their ``sample_weight``.

    Example:
        >>> RequestLogConfig().path
        'request_log'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    path: str = "request_log"
    flush_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    flush_rows: Annotated[int, Field(gt=0)] = 20_000
    max_pending_rows: Annotated[int, Field(gt=0)] = 200_000


class ServerConfig(BaseModel):
    """``server: {host: 127.0.0.1, port: 6566, api_keys: [...], tls_certfile: ...}``.

    ``max_request_bytes`` and ``max_entities`` bound one request (413 above them);
    ``workers`` defaults to one process per available core (affinity, cgroup quota);
    ``default_deadline_ms`` applies to reads that do not carry their own ``deadline_ms``
    (None: no deadline).

    Example:
        >>> ServerConfig().host
        '127.0.0.1'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 6566
    workers: Annotated[int, Field(ge=1)] | None = None
    api_keys: tuple[ApiKeyConfig, ...] = ()
    metrics_require_auth: bool = True
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    max_request_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    max_entities: Annotated[int, Field(gt=0)] = 1_000
    max_push_rows: Annotated[int, Field(gt=0)] = 10_000
    default_deadline_ms: Annotated[float, Field(gt=0)] | None = None
    read_threads: Annotated[int, Field(gt=0)] = 8
    # Replaces a Redis online store's timeout_seconds in server processes: reads run on the
    # event loop, so a Redis that hangs would stall every request for that long once.
    online_timeout_seconds: Annotated[float, Field(gt=0)] | None = 1.0
    # How far a read's client-chosen "now" may be from the server's clock (None: any
    # instant, for replays and tests). "now" only moves the instant TTLs and ages are
    # measured against: an online read always returns the latest stored values.
    max_client_now_skew_seconds: Annotated[float, Field(ge=0)] | None = 86_400.0
    request_log: RequestLogConfig = RequestLogConfig()
    push: PushConfig = PushConfig()
    access_log: bool = False
