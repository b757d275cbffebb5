"""Monitoring: freshness, consistency, data quality, drift, performance and alerts.

Every monitor returns plain frozen dataclasses with a ``to_dict()`` and, where it can
alert, ``observations()`` for :func:`evaluate`; what is stored lives in Parquet tables
under ``<offline path>/monitoring/`` (``alerts``, ``audits``, ``quality``, ``labels``,
``predictions``) and reference profiles beside their saved datasets. See
docs/monitoring.md.

Example:
    >>> from parity.monitor import DriftStatus
    >>> DriftStatus.INSUFFICIENT_DATA.value
    'insufficient_data'
"""

from __future__ import annotations

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
    serving_blocked,
    store_audit,
)
from parity.monitor.config import InconsistencyPolicy, MonitorConfig, load_monitor_config
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
from parity.monitor.performance import (
    LabelIngest,
    PerformanceReport,
    WindowPerformance,
    error_by_window,
    ingest_labels,
    log_predictions,
    performance,
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
from parity.monitor.report_html import render_drift_html
from parity.monitor.routes import CommandRoute, LogRoute, Route, WebhookRoute
from parity.monitor.served import served_drift, served_window
from parity.monitor.served_audit import audit_served

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertRule",
    "AuditReport",
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
    "PerformanceReport",
    "QualityCheck",
    "QualityRun",
    "ReferenceProfile",
    "Route",
    "Severity",
    "WebhookRoute",
    "WindowPerformance",
    "audit_served",
    "audit_view",
    "check_batch",
    "check_freshness",
    "compare_to_reference",
    "drift_by_window",
    "drift_error_link",
    "error_by_window",
    "evaluate",
    "freshness_gauges",
    "ingest_labels",
    "load_monitor_config",
    "load_profile",
    "log_predictions",
    "monitoring_metrics",
    "monitoring_root",
    "performance",
    "profile_table",
    "record_batch_quality",
    "render_drift_html",
    "render_gauges",
    "save_profile",
    "served_drift",
    "served_window",
    "serving_blocked",
    "store_audit",
]
