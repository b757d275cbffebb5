"""The scheduler's default evidence: what the monitor says about each model's champion.

For a model, against its champion (the version serving production):

- drift: the served values of the champion's pinned service in the newest window (the
  feature server's request log, :func:`parity.monitor.served.served_drift`) against the
  reference profile of the champion's training dataset;
- performance: the model's predictions (``/predict`` writes them to the request log; the
  monitor's predictions table too) joined to their late labels
  (:func:`parity.monitor.performance.performance`), per window, against the champion's
  validation metric;
- the drift-error link, when labels exist: each feature's PSI per window against the error
  per window (:func:`parity.monitor.link.drift_error_link`).

Too little data is no evidence, never a trigger: a drift window with fewer rows than the
monitor's ``min_rows``, a performance window with fewer than ``min_labelled_rows`` labels,
a link over fewer than ``min_link_windows`` windows. Each missing part says why in
``notes``, which the decision records with the rest of its evidence.

Example:
    >>> evidence = MonitorEvidence(EvidenceConfig())(loop, model)  # doctest: +SKIP
    >>> evidence.notes  # doctest: +SKIP
    ('drift: insufficient data: 12 served rows in the window, the monitor needs 200',)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import ObjectNotFound
from parity.monitor.performance import METRICS
from parity.retrain.config import EvidenceConfig
from parity.retrain.evidence import drift_evidence, performance_evidence
from parity.retrain.model import Model
from parity.retrain.registries.base import CHAMPION, ModelVersion
from parity.retrain.triggers import DriftEvidence, PerformanceEvidence

if TYPE_CHECKING:
    from parity.monitor.drift import DriftReport, DriftThresholds
    from parity.monitor.performance import PerformanceReport
    from parity.retrain.features import FeatureAccess
    from parity.retrain.wiring import Loop

# The model metrics the monitor computes on logged predictions (one vocabulary: the model
# registry and the monitor name them alike).
MONITOR_METRICS = frozenset(METRICS)


@dataclass(frozen=True)
class Evidence:
    """What an evidence provider found for one model, and why any part is missing.

    ``details`` is recorded with the decision as it is (the drift-error links, windows).

    Example:
        >>> Evidence(notes=("no champion yet",)).drift is None
        True
    """

    drift: DriftEvidence | None = None
    performance: PerformanceEvidence | None = None
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


def served_service(model_version: ModelVersion) -> tuple[str, int | None]:
    """``(service name, service version)`` a model version reads (its lineage's pin).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> served_service(NS(lineage=NS(feature_service="fraud_detection@v3")))
        ('fraud_detection', 3)
    """
    name, _, number = model_version.lineage.feature_service.partition("@v")
    return name, int(number) if number.isdigit() else None


def request_log(features: FeatureAccess) -> Path:
    """The feature server's request log folder (``server.request_log.path``).

    Example:
        >>> request_log(store.retraining).name  # doctest: +SKIP
        'request_log'
    """
    return features.storage.request_log_root


class MonitorEvidence:
    """Evidence provider for the scheduler: the monitor's drift, performance and links.

    Example:
        >>> provider = MonitorEvidence(EvidenceConfig(window_seconds=3600))
        >>> provider.window
        datetime.timedelta(seconds=3600)
    """

    def __init__(self, config: EvidenceConfig) -> None:
        self.config = config
        self.window = timedelta(seconds=config.window_seconds)

    def __call__(self, loop: Loop, model: Model) -> Evidence:
        """The evidence for ``model`` at ``loop.clock()``."""
        champion = loop.registry.alias(model.name, CHAMPION)
        if champion is None:
            return Evidence(notes=("no champion yet: nothing serves, nothing to monitor",))

        features, now = loop.features, loop.clock()
        thresholds = features.monitoring.drift.thresholds()
        notes: list[str] = []
        details: dict[str, Any] = {"champion": champion.ref}
        report = self._drift(features, champion, now, thresholds, notes)
        performance, perf_report = self._performance(features, model, champion, now, notes)
        drift = None
        if report is not None:
            links = self._links(features, champion, perf_report, thresholds, now, notes)
            details["links"] = [link.to_dict() for link in links]
            window = f"{(now - self.window).isoformat()}/{now.isoformat()}"
            drift = dataclasses.replace(drift_evidence(report, links), window=window)
            details["drift_rows"] = report.current_rows
        return Evidence(drift, performance, tuple(notes), details)

    def _drift(
        self,
        features: FeatureAccess,
        champion: ModelVersion,
        now: datetime,
        thresholds: DriftThresholds,
        notes: list[str],
    ) -> DriftReport | None:
        from parity.monitor.drift import DriftStatus
        from parity.monitor.served import served_drift

        service, service_version = served_service(champion)
        try:
            report = served_drift(
                features.storage.offline_root,
                champion.lineage.training_dataset,
                service=service,
                service_version=service_version,
                start=now - self.window,
                end=now,
                thresholds=thresholds,
                log_root=request_log(features),
            )
        except ObjectNotFound as exc:
            notes.append(f"drift: no evidence: {exc}")
            return None
        measured = [f for f in report.features if f.status is not DriftStatus.INSUFFICIENT_DATA]
        if not measured:
            notes.append(
                f"drift: insufficient data: {report.current_rows} served rows of "
                f"{champion.lineage.feature_service} in the window, the monitor needs "
                f"{thresholds.min_rows}"
            )
            return None
        return dataclasses.replace(report, features=tuple(measured))

    def _performance(
        self,
        features: FeatureAccess,
        model: Model,
        champion: ModelVersion,
        now: datetime,
        notes: list[str],
    ) -> tuple[PerformanceEvidence | None, PerformanceReport | None]:
        from parity.monitor.performance import performance

        metric = model.metric.value if model.metric.value in MONITOR_METRICS else None
        validation = champion.lineage.metrics.get(model.metric.value)
        if metric is None or validation is None:
            notes.append(
                f"performance: no evidence: the monitor does not compute {model.metric.value} "
                f"(it computes {sorted(MONITOR_METRICS)}) or {champion.ref} has no validation "
                "value for it"
            )
            return None, None
        # The request log names the model, not the version: after a promotion the first
        # windows still hold the previous champion's predictions.
        report = performance(
            features.storage.monitoring_root,
            model=model.name,
            request_log=request_log(features),
            window=self.window,
            validation={metric: validation},
            start=now - self.window * self.config.link_windows,
            end=now,
        )
        evidence = performance_evidence(
            report, metric=metric, min_labelled=self.config.min_labelled_rows
        )
        if evidence is None:
            labelled = sum(w.labeled for w in report.windows)
            notes.append(
                f"performance: insufficient data: {labelled} labelled predictions of "
                f"{champion.ref}, no window with {self.config.min_labelled_rows}"
            )
            return None, report
        return dataclasses.replace(evidence, metric=model.metric.value), report

    def _links(
        self,
        features: FeatureAccess,
        champion: ModelVersion,
        report: PerformanceReport | None,
        thresholds: DriftThresholds,
        now: datetime,
        notes: list[str],
    ) -> tuple[Any, ...]:
        """Drift-error links over the labelled windows; () without labels."""
        from parity.monitor.link import drift_by_window, drift_error_link
        from parity.monitor.profile import load_profile
        from parity.monitor.served import served_window
        from parity.offline.saved_dataset import load_saved_dataset

        if report is None or not report.windows:
            notes.append("drift-error link: no performance windows (no predictions logged)")
            return ()
        metric = next(iter(report.validation))
        errors = [
            None
            if w.labeled < self.config.min_labelled_rows or w.metrics.get(metric) is None
            else 1.0 - float(w.metrics[metric] or 0.0)
            for w in report.windows
        ]
        saved = load_saved_dataset(features.storage.offline_root, champion.lineage.training_dataset)
        profile = load_profile(saved.path)  # served_drift saved it if it was missing
        service, service_version = served_service(champion)
        served = served_window(
            features.storage.offline_root,
            kinds={f.name: f.kind for f in profile.features},
            service=service,
            service_version=service_version,
            start=report.windows[0].start,
            end=now,
            log_root=request_log(features),
        )
        drift = drift_by_window(
            profile,
            served,
            time_column="served_at",
            starts=[w.start for w in report.windows],
            window=self.window,
            thresholds=thresholds,
        )
        links = drift_error_link(drift, errors, min_windows=self.config.min_link_windows)
        if all(link.verdict.value == "insufficient_data" for link in links):
            paired = max((link.windows for link in links), default=0)
            notes.append(
                f"drift-error link: insufficient data: {paired} windows with both drift and "
                f"error, {self.config.min_link_windows} needed"
            )
        return links


def no_evidence(_loop: Loop, _model: Model) -> Evidence:
    """Schedules only: no monitor evidence (``parity scheduler --no-monitor-evidence``).

    Example:
        >>> no_evidence(None, None).notes  # type: ignore[arg-type]
        ('monitor evidence disabled: schedules only',)
    """
    return Evidence(notes=("monitor evidence disabled: schedules only",))
