"""Monitoring: freshness, consistency, data quality, drift, performance and alerts.

Every monitor returns plain frozen dataclasses with a ``to_dict()`` and, where it can
alert, ``observations()`` for :func:`evaluate`; what is stored lives in Parquet tables
under ``<offline path>/monitoring/`` (``alerts``, ``audits``, ``unblocks``, ``quality``,
``labels``, ``predictions``) and reference profiles beside their saved datasets. A feature
server runs a :class:`ServingMonitor` (blocked versions, ``/metrics`` gauges). See
docs/monitoring.md.

Example:
    >>> from parity.monitor import DriftStatus
    >>> DriftStatus.INSUFFICIENT_DATA.value
    'insufficient_data'
"""

from __future__ import annotations

from parity.errors import ServingBlocked
from parity.monitor.alerts import (
    Alert,
    AlertDispatcher,
    AlertRule,
    Delivery,
    Observation,
    Severity,
    evaluate,
)
from parity.monitor.audit import (
    AuditReport,
    ConsistencyStatus,
    FeatureConsistency,
    audit_view,
    store_audit,
)
from parity.monitor.blocking import Block, blocked_versions, serving_blocked, store_unblock
from parity.monitor.config import InconsistencyPolicy, MonitorConfig
from parity.monitor.drift import (
    DriftReport,
    DriftStatus,
    DriftThresholds,
    FeatureDrift,
    compare_to_reference,
)
from parity.monitor.freshness import FreshnessReport, FreshnessStatus, check_freshness
from parity.monitor.gauges import Gauge, freshness_gauges, monitoring_metrics, render_gauges
from parity.monitor.link import DriftErrorLink, LinkVerdict, drift_by_window, drift_error_link
from parity.monitor.observer import QualityMonitor
from parity.monitor.performance import (
    LabelIngest,
    PerformanceReport,
    WindowPerformance,
    error_by_window,
    ingest_labels,
    log_predictions,
    performance,
)
from parity.monitor.performance_report import (
    PerformanceOverview,
    performance_overview,
    render_performance_html,
)
from parity.monitor.policy import (
    alert_on_quality,
    apply_inconsistency_policy,
    dispatch_observations,
)
from parity.monitor.profile import (
    FeatureProfile,
    ReferenceProfile,
    load_profile,
    profile_table,
    save_profile,
)
from parity.monitor.quality import (
    CheckSeverity,
    QualityCheck,
    QualityRun,
    check_batch,
    record_batch_quality,
)
from parity.monitor.records import monitoring_root
from parity.monitor.reference_job import ProfilingRetrievalJob
from parity.monitor.report_html import render_drift_html
from parity.monitor.routes import CommandRoute, LogRoute, Route, WebhookRoute
from parity.monitor.served import served_drift, served_window
from parity.monitor.served_audit import audit_served
from parity.monitor.serving import ServingMonitor

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertRule",
    "AuditReport",
    "Block",
    "CheckSeverity",
    "CommandRoute",
    "ConsistencyStatus",
    "Delivery",
    "DriftErrorLink",
    "DriftReport",
    "DriftStatus",
    "DriftThresholds",
    "FeatureConsistency",
    "FeatureDrift",
    "FeatureProfile",
    "FreshnessReport",
    "FreshnessStatus",
    "Gauge",
    "InconsistencyPolicy",
    "LabelIngest",
    "LinkVerdict",
    "LogRoute",
    "MonitorConfig",
    "Observation",
    "PerformanceOverview",
    "PerformanceReport",
    "ProfilingRetrievalJob",
    "QualityCheck",
    "QualityMonitor",
    "QualityRun",
    "ReferenceProfile",
    "Route",
    "ServingBlocked",
    "ServingMonitor",
    "Severity",
    "WebhookRoute",
    "WindowPerformance",
    "alert_on_quality",
    "apply_inconsistency_policy",
    "audit_served",
    "audit_view",
    "blocked_versions",
    "check_batch",
    "check_freshness",
    "compare_to_reference",
    "dispatch_observations",
    "drift_by_window",
    "drift_error_link",
    "error_by_window",
    "evaluate",
    "freshness_gauges",
    "ingest_labels",
    "load_profile",
    "log_predictions",
    "monitoring_metrics",
    "monitoring_root",
    "performance",
    "performance_overview",
    "profile_table",
    "record_batch_quality",
    "render_drift_html",
    "render_gauges",
    "render_performance_html",
    "save_profile",
    "served_drift",
    "served_window",
    "serving_blocked",
    "store_audit",
    "store_unblock",
]
