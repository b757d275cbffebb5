"""How pushes keep their idempotency records and where aggregation views' events go.

The models of ``server.push`` in ``parity.yaml``; they live beside the code that reads
them and the server's config embeds them (``ServerConfig.push``).

Example:
    >>> PushConfig().idempotency_retention.days
    7
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from parity.storage import ObjectStorage


def _known_transport(kind: str) -> str:
    # Imported only when a stream is configured, so parity.stream (and orjson) stay out of
    # ``import parity``.
    from parity.stream.transports import known_transport

    return known_transport(kind)


class PushStreamConfig(BaseModel):
    """The stream a push source's events are published to, for its aggregation views.

    The same parameters as ``parity stream run VIEW --transport T --url U --stream S
    --partitions N`` (and its ``id_field``) for the view's processors: they must match, or
    the processors never see the pushed events (another stream) or an entity's events are
    split over two processors (other partitions).

    Example:
        >>> PushStreamConfig(stream="txns", partitions=8).transport
        'redis'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A kind of parity.stream.transports.STREAM_TRANSPORTS.
    transport: Annotated[str, AfterValidator(_known_transport)] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    stream: Annotated[str, Field(min_length=1)]
    partitions: Annotated[int, Field(gt=0, le=4096)] = 4
    id_field: Annotated[str, Field(min_length=1)] = "event_id"


class PushConfig(BaseModel):
    """How ``/push`` and ``FeatureStore.push`` keep their idempotency records, and where
    the events of push sources feeding aggregation views go.

    ``idempotency_retention``: how long the online push ledger remembers a push (at least
    this long, at most twice as long; see docs/serving.md). Seconds, or an ISO 8601
    duration such as ``P7D``; at least one second (fractions of a second are ignored).
    ``streams``: push source name -> :class:`PushStreamConfig`.

    Example:
        >>> PushConfig.model_validate({"idempotency_retention": "PT1H"}).idempotency_retention
        datetime.timedelta(seconds=3600)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_retention: Annotated[timedelta, Field(ge=timedelta(seconds=1))] = timedelta(days=7)
    streams: dict[str, PushStreamConfig] = {}


@dataclass(frozen=True)
class PushSettings:
    """What a push needs besides its stores: the project, where files go, ``server.push``.

    ``repo_root`` resolves relative source paths; ``quarantine_root`` is where rejected
    rows are kept (the offline store's quarantine folder); ``storage`` reaches ``s3://``
    sources.

    Example:
        >>> from pathlib import Path
        >>> PushSettings("fraud", Path("."), Path("data/quarantine"), PushConfig()).project
        'fraud'
    """

    project: str
    repo_root: Path
    quarantine_root: Path
    config: PushConfig
    storage: ObjectStorage = field(default_factory=ObjectStorage, repr=False)
