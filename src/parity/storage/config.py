"""``storage:`` in ``parity.yaml``: how parity reaches object storage (S3 and compatibles).

Every location parity reads or writes (sources, Delta tables, the offline root, saved
datasets, the request log) may be a plain path, a ``file://`` URI or ``s3://bucket/prefix``.
This section says how to reach ``s3://``: endpoint, region, credentials and the mechanism
that keeps concurrent Delta writers safe. Each field left out falls back to the standard
AWS environment variable (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``), and parity's own overrides apply as for every section:
``PARITY__STORAGE__S3__ENDPOINT_URL=http://127.0.0.1:9000``.

Secrets are :class:`pydantic.SecretStr`: printing the configuration, an error or a
``repr`` shows ``**********``.

Example:
    >>> cfg = S3Config(endpoint_url="http://127.0.0.1:9000", access_key_id="k",
    ...                secret_access_key="s")
    >>> cfg.secret_access_key
    SecretStr('**********')
    >>> S3Config().concurrent_writes
    'conditional_put'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["AWS_ENVIRONMENT", "S3Config", "StorageConfig"]

#: The standard AWS variables a field falls back to, first set wins.
AWS_ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "endpoint_url": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key_id": ("AWS_ACCESS_KEY_ID",),
    "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
}


class S3Config(BaseModel):
    """``storage: {s3: {...}}``: one S3-compatible endpoint for every ``s3://`` location.

    ``concurrent_writes`` picks how two processes committing to one Delta table at once
    stay safe (delta-rs's commit protocol needs an atomic "create if absent" of the next
    log entry):

    * ``conditional_put`` (default): a ``PUT`` with ``If-None-Match: *``; AWS S3 (since
      2024), MinIO, Cloudflare R2 and the test server honour it. The loser of a race gets
      a conflict, and delta-rs retries its commit on the next version.
    * ``dynamodb``: delta-rs's DynamoDB lock table (``dynamodb_table``), for stores
      without conditional writes.
    * ``unsafe_rename``: no protection; only for a single writer.

    Example:
        >>> S3Config(region="eu-west-1").resolved({}).region
        'eu-west-1'
        >>> S3Config().resolved({"AWS_REGION": "us-east-2"}).region
        'us-east-2'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    concurrent_writes: Literal["conditional_put", "dynamodb", "unsafe_rename"] = "conditional_put"
    dynamodb_table: str = "delta_log"
    # Seconds before a request to the endpoint is given up (connect and each request).
    timeout_seconds: float = 10.0

    def resolved(self, environ: Mapping[str, str] | None = None) -> S3Config:
        """This config with each unset field taken from the standard AWS variables.

        Example:
            >>> S3Config().resolved({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}).endpoint_url
            'http://127.0.0.1:9000'
        """
        env = os.environ if environ is None else environ
        updates: dict[str, object] = {}
        for name, variables in AWS_ENVIRONMENT.items():
            if getattr(self, name) is not None:
                continue
            value = next((env[v] for v in variables if env.get(v)), None)
            if value is not None:
                updates[name] = (
                    SecretStr(value) if name.endswith(("_id", "_key", "_token")) else value
                )
        return self.model_copy(update=updates) if updates else self

    @property
    def allow_http(self) -> bool:
        """True when the endpoint is plain HTTP (a local or private server).

        Example:
            >>> S3Config(endpoint_url="http://127.0.0.1:9000").allow_http
            True
        """
        return (self.endpoint_url or "").startswith("http://")


class StorageConfig(BaseModel):
    """``storage:`` in ``parity.yaml``; today one kind of object storage, ``s3``.

    Example:
        >>> StorageConfig.model_validate({"s3": {"region": "eu-west-1"}}).s3.region
        'eu-west-1'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    s3: S3Config = S3Config()
