"""Feature definitions as code: entities, fields, sources, feature views and services.

This package imports nothing else of parity but :mod:`parity.types` and
:mod:`parity.errors`; every other package builds on it.
"""

from __future__ import annotations

from parity.definitions.entity import Entity
from parity.definitions.feature_service import (
    FeatureService,
    parse_feature_ref,
    parse_versioned_name,
)
from parity.definitions.feature_view import FeatureSelection, FeatureView, FreshnessPolicy
from parity.definitions.field import Field
from parity.definitions.repo import RepoContents, load_repo
from parity.definitions.source import (
    CDCSource,
    DeltaSource,
    MySQLCDCSource,
    ParquetSource,
    PostgresCDCSource,
    PushSource,
    Source,
)
from parity.definitions.transformation import Aggregation, AggregationFunction, RowTransform

__all__ = [
    "Aggregation",
    "AggregationFunction",
    "CDCSource",
    "DeltaSource",
    "Entity",
    "FeatureSelection",
    "FeatureService",
    "FeatureView",
    "Field",
    "FreshnessPolicy",
    "MySQLCDCSource",
    "ParquetSource",
    "PostgresCDCSource",
    "PushSource",
    "RepoContents",
    "RowTransform",
    "Source",
    "load_repo",
    "parse_feature_ref",
    "parse_versioned_name",
]
