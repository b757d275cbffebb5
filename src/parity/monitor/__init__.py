"""Monitoring: freshness, consistency, data quality, drift, performance and alerts.

Example:
    >>> from parity.monitor import DriftStatus
    >>> DriftStatus.INSUFFICIENT_DATA.value
    'insufficient_data'
"""

from __future__ import annotations

from parity.monitor.drift import DriftReport, DriftStatus, DriftThresholds, compare_to_reference
from parity.monitor.profile import ReferenceProfile, load_profile, profile_table, save_profile

__all__ = [
    "DriftReport",
    "DriftStatus",
    "DriftThresholds",
    "ReferenceProfile",
    "compare_to_reference",
    "load_profile",
    "profile_table",
    "save_profile",
]
