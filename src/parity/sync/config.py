"""``sync:`` settings of parity.yaml: how strict the synchronization controller is."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class SyncConfig(BaseModel):
    """Thresholds of the sync controller.

    Example:
        >>> SyncConfig().max_reject_ratio
        0.01
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Rows whose event time is further than this after "now" are rejected.
    future_tolerance_seconds: Annotated[float, Field(ge=0)] = 300.0
    # A new version is promoted only if at most this share of rows was rejected.
    max_reject_ratio: Annotated[float, Field(ge=0, le=1)] = 0.01
    # Entity keys compared online vs offline before a version may serve.
    validation_sample: Annotated[int, Field(ge=0)] = 200
    # Rows per online write (and per progress step).
    chunk_rows: Annotated[int, Field(gt=0)] = 50_000
