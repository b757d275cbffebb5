"""Freshness of every live view version: from its sync records and its online values.

Per view version: freshness lag (now minus the newest event time held online), missed
refreshes (whole ``refresh_every`` periods since the last successful sync), the stale
entity ratio (share of online entities whose value is older than the policy's
``max_age``, found by scanning the online store when it :class:`ScansEntities`), the
last sync's delay, watermark and row counts. ``status`` sums it up.

Example:
    >>> reports = check_freshness(store.registry, store.online_store, "fraud")  # doctest: +SKIP
    >>> reports[0].status  # doctest: +SKIP
    <FreshnessStatus.FRESH: 'fresh'>
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parity.definitions import FeatureView, FreshnessPolicy
from parity.monitor.alerts import Observation
from parity.online.base import OnlineStore, ScansEntities, ViewTable
from parity.registry import ObjectKind, Registry, SyncRecord, VersionRecord, VersionState

LIVE = (VersionState.PENDING, VersionState.SERVING, VersionState.DEPRECATED)


class FreshnessStatus(enum.StrEnum):
    """The freshness verdict on one view version."""

    # Synced on time and the newest online value is within max age.
    FRESH = "fresh"
    # The newest online value is older than the policy's max age.
    STALE = "stale"
    # At least one whole refresh_every period passed without a successful sync.
    MISSED_REFRESH = "missed_refresh"
    # No sync of this version ever succeeded.
    NEVER_SYNCED = "never_synced"
    # Synced, but the view declares no freshness policy to judge against.
    NO_POLICY = "no_policy"


@dataclass(frozen=True)
class FreshnessReport:
    """Freshness of one view version at ``checked_at``.

    Example:
        >>> report.freshness_lag_seconds  # doctest: +SKIP
        421.5
    """

    view: str
    version: int
    state: str
    status: FreshnessStatus
    checked_at: datetime
    max_age_seconds: float | None
    refresh_every_seconds: float | None
    newest_event: datetime | None
    freshness_lag_seconds: float | None
    entities: int | None
    stale_entities: int | None
    stale_entity_ratio: float | None
    missed_refreshes: int | None
    last_outcome: str | None
    last_success_at: datetime | None
    watermark: datetime | None
    sync_delay_seconds: float | None
    rows_read: int | None
    rows_written: int | None
    rows_rejected: int | None

    @property
    def ref(self) -> str:
        """``view@vN``."""
        return f"{self.view}@v{self.version}"

    def observations(self) -> list[Observation]:
        """The measured values, for alert rules."""
        values = {
            "freshness_lag_seconds": self.freshness_lag_seconds,
            "stale_entity_ratio": self.stale_entity_ratio,
            "missed_refreshes": self.missed_refreshes,
            "sync_delay_seconds": self.sync_delay_seconds,
        }
        evidence = self.to_dict()
        return [
            Observation(metric, self.ref, float(value), evidence)
            for metric, value in values.items()
            if value is not None
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["status"] = self.status.value
        out["ref"] = self.ref
        return out


@dataclass(frozen=True)
class _OnlineAges:
    entities: int
    stale: int
    newest_us: int | None


def _scan_ages(store: ScansEntities, table: ViewTable, stale_before_us: int | None) -> _OnlineAges:
    """Count entities and stale ones, batch by batch (column-wise, no loop over rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    entities = stale = 0
    newest: int | None = None
    for batch in store.scan(table):
        times = batch.column("event_timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        entities += batch.num_rows
        top = pc.max(times).as_py()
        if top is not None:
            newest = top if newest is None else max(newest, top)
        if stale_before_us is not None:
            stale += int(pc.sum(pc.less(times, stale_before_us)).as_py() or 0)
    return _OnlineAges(entities, stale, newest)


def _missed(elapsed_seconds: float, every: float | None) -> int | None:
    return None if every is None else max(0, int(elapsed_seconds // every))


def version_freshness(
    record: VersionRecord,
    runs: Sequence[SyncRecord],
    online: OnlineStore,
    *,
    project: str,
    now: datetime,
) -> FreshnessReport:
    """Freshness of one view version from its sync runs (newest first) and the online store.

    Example:
        >>> version_freshness(record, runs, online, project="fraud", now=now)  # doctest: +SKIP
    """
    view = FeatureView.from_dict(record.spec)
    policy = view.freshness if isinstance(view.freshness, FreshnessPolicy) else None
    max_age = None if policy is None else policy.max_age.total_seconds()
    every = None if policy is None or policy.refresh_every is None else policy.refresh_every
    every_seconds = None if every is None else every.total_seconds()
    now_us = int(now.timestamp() * 1_000_000)
    ages = None
    if isinstance(online, ScansEntities):
        table = ViewTable.from_view(view, project=project, version=record.version)
        stale_before = None if max_age is None else now_us - int(max_age * 1_000_000)
        ages = _scan_ages(online, table, stale_before)
    newest = None
    if ages is not None and ages.newest_us is not None:
        newest = datetime.fromtimestamp(ages.newest_us / 1_000_000, tz=UTC)
    success = next((r for r in runs if r.outcome == "succeeded"), None)
    last = runs[0] if runs else None
    since = success.finished_at or success.started_at if success else record.created_at
    missed = _missed(
        (now - since).total_seconds(), None if every is None else every.total_seconds()
    )
    lag = None if newest is None else (now - newest).total_seconds()
    if success is None:
        status = FreshnessStatus.NEVER_SYNCED
    elif missed:
        status = FreshnessStatus.MISSED_REFRESH
    elif max_age is None:
        status = FreshnessStatus.NO_POLICY
    elif lag is None or lag > max_age:
        status = FreshnessStatus.STALE
    else:
        status = FreshnessStatus.FRESH
    return FreshnessReport(
        view=record.name,
        version=record.version,
        state=record.state.value,
        status=status,
        checked_at=now,
        max_age_seconds=max_age,
        refresh_every_seconds=every_seconds,
        newest_event=newest,
        freshness_lag_seconds=lag,
        entities=None if ages is None else ages.entities,
        stale_entities=None if ages is None or max_age is None else ages.stale,
        stale_entity_ratio=(
            None
            if ages is None or max_age is None
            else (ages.stale / ages.entities if ages.entities else 0.0)
        ),
        missed_refreshes=missed,
        last_outcome=None if last is None else last.outcome,
        last_success_at=None if success is None else success.finished_at,
        watermark=None if success is None else success.watermark,
        sync_delay_seconds=None if success is None else success.delay_seconds,
        rows_read=None if last is None else last.rows_read,
        rows_written=None if last is None else last.rows_written,
        rows_rejected=None if last is None else last.rows_rejected,
    )


def check_freshness(
    registry: Registry,
    online: OnlineStore,
    project: str,
    *,
    views: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[FreshnessReport]:
    """Freshness of every live version of every online view (or of the named views).

    Example:
        >>> check_freshness(store.registry, store.online_store, store.project)  # doctest: +SKIP
    """
    now = datetime.now(UTC) if now is None else now
    snapshot = registry.snapshot(project)
    names = snapshot.names(ObjectKind.FEATURE_VIEW) if views is None else list(views)
    reports = []
    for name in names:
        for record in snapshot.history_of(ObjectKind.FEATURE_VIEW, name):
            if record.state not in LIVE or not record.spec.get("online", True):
                continue
            runs = registry.sync_records(project, record.name, record.version, limit=1000)
            reports.append(version_freshness(record, runs, online, project=project, now=now))
    return reports
