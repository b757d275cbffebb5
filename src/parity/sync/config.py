"""``sync:`` settings of parity.yaml: how strict the synchronization controller is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SyncPolicy(BaseModel):
    """When the scheduler syncs one view: a fixed interval, a cron expression, or adaptive.

    ``fixed``: every ``every_seconds`` (or at each ``cron`` fire, UTC). ``adaptive``: the
    longest interval in [``min_interval_seconds``, ``max_interval_seconds``] whose expected
    share of reads older than ``freshness_target_seconds`` (given the view's measured
    per-key change rate) stays within ``max_stale_share`` (docs/scheduling.md).

    Example:
        >>> SyncPolicy(mode="adaptive", freshness_target_seconds=600).max_stale_share
        0.01
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["fixed", "adaptive"] = "fixed"
    every_seconds: Annotated[float | None, Field(gt=0)] = None
    cron: str | None = None
    freshness_target_seconds: Annotated[float | None, Field(gt=0)] = None
    min_interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_interval_seconds: Annotated[float, Field(gt=0)] = 86_400.0
    max_stale_share: Annotated[float, Field(gt=0, lt=1)] = 0.01

    @model_validator(mode="after")
    def _check(self) -> SyncPolicy:
        if self.mode == "fixed" and (self.every_seconds is None) == (self.cron is None):
            raise ValueError(
                "a fixed sync policy needs exactly one of every_seconds or cron, e.g. "
                "{mode: fixed, every_seconds: 900}"
            )
        if self.mode == "adaptive" and self.freshness_target_seconds is None:
            raise ValueError(
                "an adaptive sync policy needs freshness_target_seconds, e.g. "
                "{mode: adaptive, freshness_target_seconds: 600}"
            )
        if self.min_interval_seconds > self.max_interval_seconds:
            raise ValueError(
                f"min_interval_seconds ({self.min_interval_seconds:g}) is above "
                f"max_interval_seconds ({self.max_interval_seconds:g}); swap them"
            )
        if self.cron is not None:
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise ValueError(f"cron {self.cron!r} is not a cron expression ('*/15 * * * *')")
        return self


class ScheduleConfig(BaseModel):
    """``sync.schedule``: the sync scheduler (``parity scheduler``).

    ``views`` maps a view name to its :class:`SyncPolicy`; a view without one syncs every
    ``freshness.refresh_every`` of its definition, and a view with neither is not scheduled.
    ``lease_seconds``: how long a scheduler copy holds a view version's lease without
    renewing it (it renews every third of it while a run lasts); a copy that dies loses
    its leases after that long.

    Example:
        >>> ScheduleConfig(views={"user_stats": {"every_seconds": 900}}).views["user_stats"].mode
        'fixed'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_seconds: Annotated[float, Field(gt=0)] = 300.0
    views: dict[str, SyncPolicy] = {}


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
    # When ``parity scheduler`` syncs each view (docs/scheduling.md).
    schedule: ScheduleConfig = ScheduleConfig()
