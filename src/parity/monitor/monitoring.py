"""What a person or a scheduler asks of the monitor, for one repository.

:class:`Monitoring` is the public entry point behind ``parity status``, ``parity audit``,
``parity unblock``, ``parity report drift|performance``, ``parity labels ingest`` and
``parity alerts``: each command parses its arguments, calls one method, and renders.
:attr:`parity.FeatureStore.monitoring` builds it from the repository's configuration; a
Python user calls the same methods.

It takes its collaborators, not the facade. The online store, the offline engine and the
sync controller are passed as zero-argument callables because most operations need only
some of them (``parity status`` never opens DuckDB).

Example:
    >>> with FeatureStore("my_repo") as store:  # doctest: +SKIP
    ...     reports = store.monitoring.freshness()
    ...     sent = store.monitoring.alert([o for r in reports for o in r.observations()])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from parity.definitions import FeatureView
from parity.monitor.alerts import Alert, Observation
from parity.monitor.audit import AuditReport
from parity.monitor.blocking import Block
from parity.monitor.config import MonitorConfig
from parity.monitor.drift import DriftReport, DriftStatus
from parity.monitor.freshness import FreshnessReport
from parity.registry import ObjectKind, Registry, VersionRecord
from parity.registry.references import resolve_reference
from parity.storage import ObjectStorage

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.monitor.performance import LabelIngest
    from parity.monitor.performance_report import PerformanceOverview
    from parity.offline.base import OfflineEngine
    from parity.online.base import OnlineStore
    from parity.sync.controller import SyncController

__all__ = ["Monitoring", "Unblock", "drift_observations"]


def drift_observations(report: DriftReport, /) -> list[Observation]:
    """PSI of every feature with a verdict, for the alert rules.

    Example:
        >>> drift_observations(report)[0].metric  # doctest: +SKIP
        'psi'
    """
    return [
        Observation(
            "psi",
            f"{report.dataset}:{f.feature}",
            f.psi,
            {"status": f.status.value, "p_adjusted": f.p_adjusted, "rows": f.current_rows},
        )
        for f in report.features
        if f.status is not DriftStatus.INSUFFICIENT_DATA
    ]


@dataclass(frozen=True)
class Unblock:
    """What :meth:`Monitoring.unblock` did: ``was_blocked`` (and so unblocked now), and the
    view versions still blocked.

    Example:
        >>> Unblock("user_stats@v1", was_blocked=False, blocked=()).was_blocked
        False
    """

    ref: str
    was_blocked: bool
    blocked: tuple[str, ...]


@dataclass(frozen=True)
class Monitoring:
    """The monitor's operations on one project.

    ``root`` is where the monitoring tables live, ``request_log`` the server's request log
    folder, ``offline_root`` the offline store (saved datasets and their profiles).
    ``champion_metrics(model)`` gives a model's validation metrics (the default compares
    with none).

    Example:
        >>> import tempfile
        >>> from parity.registry import open_registry
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> repo = Path(tempfile.mkdtemp())
        >>> monitoring = Monitoring(
        ...     project="fraud", registry=open_registry(SqliteRegistryConfig(), repo_root=repo),
        ...     settings=MonitorConfig(), root=repo / "m", request_log=repo / "log",
        ...     offline_root=repo / "offline", repo_root=repo, online=None, engine=None,
        ...     controller=None)
        >>> monitoring.stored_alerts().num_rows
        0
    """

    project: str
    registry: Registry
    settings: MonitorConfig
    root: Path
    request_log: Path
    offline_root: Path
    repo_root: Path
    online: Callable[[], OnlineStore]
    engine: Callable[[], OfflineEngine]
    controller: Callable[[], SyncController]
    champion_metrics: Callable[[str], Mapping[str, float]] | None = None
    # How to reach s3:// sources (connection settings from ``storage:``).
    storage: ObjectStorage = field(default_factory=ObjectStorage, repr=False)

    def _view(self, ref: str) -> tuple[VersionRecord, FeatureView]:
        record = resolve_reference(
            self.registry.snapshot(self.project), ref, kind=ObjectKind.FEATURE_VIEW
        )
        return record, FeatureView.from_dict(record.spec)

    def alert(self, observations: Sequence[Observation], /) -> list[Alert]:
        """Evaluate the configured alert rules on ``observations``; deliver and store what
        they raise.

        Example:
            >>> store.monitoring.alert(report.observations())  # doctest: +SKIP
            []
        """
        from parity.monitor.policy import dispatch_observations

        return dispatch_observations(
            observations, settings=self.settings.alerts, root=self.root, repo_root=self.repo_root
        )

    def freshness(self, views: Sequence[str] | None = None) -> list[FreshnessReport]:
        """Freshness of every live online view version (or of ``views``): lag, stale
        entities, missed refreshes, sync delay.

        Example:
            >>> [r.status.value for r in store.monitoring.freshness()]  # doctest: +SKIP
            ['fresh']
        """
        from parity.monitor.freshness import check_freshness

        return check_freshness(self.registry, self.online(), self.project, views=views)

    def served_drift(
        self,
        dataset: str,
        /,
        *,
        service: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> DriftReport:
        """Drift of served values (the request log) against a saved dataset's profile.

        Example:
            >>> store.monitoring.served_drift("fraud_training").features  # doctest: +SKIP
        """
        from parity.monitor.served import served_drift

        return served_drift(
            self.offline_root, dataset, service=service, start=start, end=end,
            thresholds=self.settings.drift.thresholds(), log_root=self.request_log,
        )  # fmt: skip

    def audit(
        self, view: str, /, *, sample: int | None = None, served: bool = False
    ) -> tuple[AuditReport, list[Alert]]:
        """Compare sampled online values (``served``: values served, from the request log)
        with offline point-in-time values at the same instants; store the audit and apply
        the view's inconsistency policy. Returns the report and the alerts the policy raised.

        Example:
            >>> report, alerts = store.monitoring.audit("user_stats@v1")  # doctest: +SKIP
            >>> report.status.value  # doctest: +SKIP
            'consistent'
        """
        from parity.monitor.audit import audit_view, store_audit
        from parity.monitor.audit_offline import expected_online_keys
        from parity.monitor.policy import apply_inconsistency_policy
        from parity.monitor.served_audit import audit_served
        from parity.offline.base import ViewReadSpec
        from parity.online.base import ViewTable

        record, definition = self._view(view)
        threshold, policy = self.settings.consistency.for_view(record.name)
        spec = ViewReadSpec.from_view(
            definition, version=record.version, repo_root=self.repo_root, storage=self.storage
        )
        table = ViewTable.from_view(definition, project=self.project, version=record.version)
        size = sample or self.settings.consistency.sample
        if served:
            report = audit_served(
                self.engine(), spec, table, self.request_log,
                sample=size, max_mismatch_rate=threshold, policy=policy,
            )  # fmt: skip
        else:
            records = self.registry.sync_records(
                self.project, record.name, record.version, limit=100
            )
            report = audit_view(
                self.engine(), self.online(), spec, table,
                sample=size, max_mismatch_rate=threshold, policy=policy,
                expected=expected_online_keys(spec, records, sample=size),
            )  # fmt: skip
        report, raised = apply_inconsistency_policy(
            report, controller=self.controller(), settings=self.settings, root=self.root,
            repo_root=self.repo_root,
        )  # fmt: skip
        store_audit(self.root, report)
        return report, raised

    def ingest_labels(self, file: Path, /) -> LabelIngest:
        """Store late labels (Parquet or CSV: ``request_id``, ``label``[, ``row_index``]);
        they join logged predictions by request id.

        Example:
            >>> store.monitoring.ingest_labels(Path("labels.parquet")).matched  # doctest: +SKIP
            950
        """
        from parity.monitor.performance import ingest_labels, read_label_file

        return ingest_labels(self.root, read_label_file(file), request_log=self.request_log)

    def stored_alerts(self) -> pa.Table:
        """Every stored alert, newest first.

        Example:
            >>> store.monitoring.stored_alerts().column_names[:2]  # doctest: +SKIP
            ['at', 'severity']
        """
        from parity.monitor.alerts import alerts_schema
        from parity.monitor.records import read_records

        stored = read_records(self.root, "alerts", alerts_schema())
        return stored.sort_by([("at", "descending")])

    def performance(
        self,
        model: str,
        /,
        *,
        window: timedelta,
        validation: Mapping[str, float] | None = None,
        threshold: float = 0.5,
        start: datetime | None = None,
        end: datetime | None = None,
        dataset: str | None = None,
        service: str | None = None,
    ) -> PerformanceOverview:
        """Model performance per window (precision, recall, F1, AUC, label coverage, drop
        against ``validation``, default the champion's metrics) and, with ``dataset``, which
        features' drift tracks the error.

        Example:
            >>> day = timedelta(days=1)
            >>> store.monitoring.performance("fraud_model", window=day)  # doctest: +SKIP
        """
        from parity.monitor.performance_report import performance_overview

        if validation is None:
            validation = {} if self.champion_metrics is None else self.champion_metrics(model)
        return performance_overview(
            self.offline_root, model=model, window=window, validation=validation,
            threshold=threshold, start=start, end=end, dataset=dataset, service=service,
            thresholds=self.settings.drift.thresholds(), request_log=self.request_log,
        )  # fmt: skip

    def blocked(self) -> dict[str, Block]:
        """The view versions the consistency policy blocked, by ``name@vN``.

        Example:
            >>> store.monitoring.blocked()  # doctest: +SKIP
            {}
        """
        from parity.monitor.blocking import blocked_versions

        return blocked_versions(self.root)

    def unblock(self, view: str, /, *, message: str = "") -> Unblock:
        """Let a blocked view version serve again (servers notice within
        ``monitoring.serving.block_refresh_seconds``); a version not blocked is left alone.

        Example:
            >>> done = store.monitoring.unblock("user_stats@v1")  # doctest: +SKIP
            >>> done.was_blocked  # doctest: +SKIP
            True
        """
        from parity.monitor.blocking import store_unblock

        record, _ = self._view(view)
        blocked = self.blocked()
        was_blocked = record.ref in blocked
        if was_blocked:
            store_unblock(self.root, record.name, record.version, message=message)
        still = tuple(sorted(ref for ref in blocked if ref != record.ref))
        return Unblock(record.ref, was_blocked=was_blocked, blocked=still)
