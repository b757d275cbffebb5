"""Data quality of every batch and push: the view's contract, measured and stored per run.

The sync controller and the push endpoint already split each batch with
:func:`parity.sync.validate.validate_rows` (types, keys, timestamps, the contract:
nullability, ranges, allowed values, regex). :func:`check_batch` turns that result (or
runs it) into checks with a severity, adds what the contract does not say (null rate per
feature, row-count bounds, the age of the newest event), and :func:`record_quality`
stores the run in ``<offline path>/monitoring/quality`` (Parquet, one row per check).

Severity: a contract rule broken by more than ``fail_ratio`` of the rows fails, by fewer
warns; a row count outside its bounds fails; a null rate above ``max_null_rate`` or a
newest event older than ``max_event_age_seconds`` warns.

Example:
    >>> import pyarrow as pa
    >>> from datetime import datetime, timezone
    >>> from parity import Entity, FeatureView, Field, Float64, Int64, ParquetSource
    >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
    >>> view = FeatureView("stats", entities=[user], schema=[Field("spend", Float64)],
    ...                    source=ParquetSource("s.parquet", timestamp_field="ts"))
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> rows = pa.table({"user_id": [1, 2], "spend": [3.0, 4.0], "event_timestamp": [now, now]})
    >>> run = check_batch(view, rows, version=1, source="sync", now=now)
    >>> run.severity
    <CheckSeverity.PASS: 'pass'>
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.definitions import FeatureView
from parity.monitor.alerts import Observation
from parity.monitor.config import QualitySettings
from parity.monitor.records import append_records, read_records
from parity.sync.validate import ValidationResult, validate_rows

if TYPE_CHECKING:
    import pyarrow as pa

QUALITY_TABLE = "quality"
DEFAULT_QUALITY = QualitySettings()


class CheckSeverity(enum.StrEnum):
    """The outcome of one quality check."""

    # Within bounds.
    PASS = "pass"
    # Outside a soft bound, or a few rows broke the contract: look at it.
    WARN = "warn"
    # Outside a hard bound, or many rows broke the contract: the batch is suspect.
    FAIL = "fail"


_RANK = {CheckSeverity.PASS: 0, CheckSeverity.WARN: 1, CheckSeverity.FAIL: 2}


@dataclass(frozen=True)
class QualityCheck:
    """One measured check: what, on which column, the value, the bound, the verdict.

    Example:
        >>> QualityCheck("row_count", None, 0.0, ">= 1", CheckSeverity.FAIL, "").severity.value
        'fail'
    """

    check: str
    column: str | None
    observed: float
    bound: str
    severity: CheckSeverity
    detail: str = ""


@dataclass(frozen=True)
class QualityRun:
    """The checks of one batch of one view version.

    Example:
        >>> from datetime import datetime, timezone
        >>> check = QualityCheck("row_count", None, 0.0, ">= 1", CheckSeverity.FAIL, "")
        >>> run = QualityRun("r1", datetime(2026, 1, 1, tzinfo=timezone.utc), "stats", 1,
        ...                  "push", 0, (check,))
        >>> run.failed, run.severity.value
        (1, 'fail')
    """

    run_id: str
    at: datetime
    view: str
    version: int
    source: str
    rows: int
    checks: tuple[QualityCheck, ...]

    @property
    def severity(self) -> CheckSeverity:
        """The worst check."""
        return max(
            (c.severity for c in self.checks), key=_RANK.__getitem__, default=CheckSeverity.PASS
        )

    @property
    def failed(self) -> int:
        """Checks that failed."""
        return sum(1 for c in self.checks if c.severity is CheckSeverity.FAIL)

    @property
    def warned(self) -> int:
        """Checks that warned."""
        return sum(1 for c in self.checks if c.severity is CheckSeverity.WARN)

    def observations(self) -> list[Observation]:
        """Failed and warned check counts, for alert rules."""
        subject = f"{self.view}@v{self.version}"
        evidence = {
            "run_id": self.run_id,
            "source": self.source,
            "rows": self.rows,
            "checks": [
                {"check": c.check, "column": c.column, "observed": c.observed, "bound": c.bound,
                 "severity": c.severity.value, "detail": c.detail}
                for c in self.checks
                if c.severity is not CheckSeverity.PASS
            ],
        }  # fmt: skip
        return [
            Observation("quality_failed_checks", subject, float(self.failed), evidence),
            Observation("quality_warned_checks", subject, float(self.warned), evidence),
        ]


def _contract_checks(
    validation: ValidationResult, rows: int, settings: QualitySettings
) -> list[QualityCheck]:
    checks = []
    for rule, count in sorted(validation.rule_counts().items()):
        ratio = count / rows if rows else 0.0
        severity = CheckSeverity.FAIL if ratio > settings.fail_ratio else CheckSeverity.WARN
        column = rule.split(" ", 1)[0]
        kind = (
            "type" if " is not a " in rule else "timestamp" if "timestamp" in rule else "contract"
        )
        checks.append(
            QualityCheck(kind, column, ratio, f"<= {settings.fail_ratio} of rows", severity, rule)
        )
    return checks


def _null_rates(view: FeatureView, rows: pa.Table, settings: QualitySettings) -> list[QualityCheck]:
    checks = []
    limit = settings.max_null_rate
    for field in view.schema:
        if field.name not in rows.column_names or rows.num_rows == 0:
            continue
        rate = rows.column(field.name).null_count / rows.num_rows
        severity = CheckSeverity.WARN if limit is not None and rate > limit else CheckSeverity.PASS
        bound = "recorded" if limit is None else f"<= {limit}"
        checks.append(QualityCheck("null_rate", field.name, rate, bound, severity))
    return checks


def _row_count(rows: int, settings: QualitySettings) -> QualityCheck:
    low, high = settings.min_rows, settings.max_rows
    outside = rows < low or (high is not None and rows > high)
    bound = f">= {low}" + ("" if high is None else f" and <= {high}")
    severity = CheckSeverity.FAIL if outside else CheckSeverity.PASS
    return QualityCheck("row_count", None, float(rows), bound, severity)


def _freshness(rows: pa.Table, now: datetime, settings: QualitySettings) -> list[QualityCheck]:
    import pyarrow.compute as pc

    if settings.max_event_age_seconds is None or "event_timestamp" not in rows.column_names:
        return []
    newest = pc.max(rows.column("event_timestamp")).as_py()
    age = float("inf") if newest is None else (now - newest).total_seconds()
    severity = CheckSeverity.WARN if age > settings.max_event_age_seconds else CheckSeverity.PASS
    bound = f"<= {settings.max_event_age_seconds}s"
    return [QualityCheck("freshness", "event_timestamp", age, bound, severity)]


def check_batch(
    view: FeatureView,
    rows: pa.Table,
    *,
    version: int,
    source: str,
    now: datetime,
    validation: ValidationResult | None = None,
    settings: QualitySettings = DEFAULT_QUALITY,
) -> QualityRun:
    """Every quality check of one batch (``validation``: the controller's result, if it has one).

    Example:
        >>> import pyarrow as pa
        >>> from datetime import datetime, timezone
        >>> from parity import Entity, FeatureView, Field, Float64, Int64, ParquetSource
        >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
        >>> view = FeatureView("stats", entities=[user], schema=[Field("spend", Float64)],
        ...                    source=ParquetSource("s.parquet", timestamp_field="ts"))
        >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> rows = pa.table({"user_id": [1, 2], "spend": [3.0, 4.0], "event_timestamp": [now, now]})
        >>> check_batch(view, rows, version=1, source="push", now=now).rows
        2
    """
    if validation is None:
        validation = validate_rows(view, rows, now=now)
    checks = [
        _row_count(rows.num_rows, settings),
        *_contract_checks(validation, rows.num_rows, settings),
        *_null_rates(view, rows, settings),
        *_freshness(validation.valid, now, settings),
    ]
    return QualityRun(
        uuid.uuid4().hex, now, view.name, version, source, rows.num_rows, tuple(checks)
    )


def quality_schema() -> pa.Schema:
    """The Arrow schema of the stored quality table (one row per check).

    Example:
        >>> quality_schema().names[:3]
        ['run_id', 'at', 'view']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("run_id", pa.string()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("view", pa.string()),
            ("version", pa.int32()),
            ("source", pa.string()),
            ("rows", pa.int64()),
            ("check", pa.string()),
            ("column", pa.string()),
            ("observed", pa.float64()),
            ("bound", pa.string()),
            ("severity", pa.string()),
            ("detail", pa.string()),
        ]
    )


def record_quality(root: Path, run: QualityRun) -> None:
    """Store one run's checks in ``<root>/quality``.

    This is the hook the sync controller and the push endpoint call after validating a
    batch: ``record_quality(monitoring_root(offline_path), check_batch(...))``.
    """
    import pyarrow as pa

    rows: list[dict[str, Any]] = [
        {
            "run_id": run.run_id, "at": run.at, "view": run.view, "version": run.version,
            "source": run.source, "rows": run.rows, "check": c.check, "column": c.column,
            "observed": c.observed, "bound": c.bound, "severity": c.severity.value,
            "detail": c.detail,
        }
        for c in run.checks
    ]  # fmt: skip
    append_records(root, QUALITY_TABLE, pa.Table.from_pylist(rows, schema=quality_schema()))


def record_batch_quality(
    root: Path,
    view: FeatureView,
    rows: pa.Table | None,
    *,
    version: int,
    source: str,
    now: datetime,
    validation: ValidationResult | None = None,
    settings: QualitySettings = DEFAULT_QUALITY,
) -> QualityRun:
    """:func:`check_batch` then :func:`record_quality`: the one call a writer makes
    (``rows`` None: nothing was read, an empty batch).

    Example:
        >>> record_batch_quality(root, view, rows, version=1, source="sync", now=now,
        ...                      validation=result)  # doctest: +SKIP
    """
    if rows is None:
        import pyarrow as pa

        rows = pa.table({"event_timestamp": pa.array([], pa.timestamp("us", tz="UTC"))})
    run = check_batch(
        view, rows, version=version, source=source, now=now, validation=validation,
        settings=settings,
    )  # fmt: skip
    record_quality(root, run)
    return run


def quality_history(root: Path, view: str | None = None) -> pa.Table:
    """Stored checks, optionally of one view."""
    import pyarrow.compute as pc

    table = read_records(root, QUALITY_TABLE, quality_schema())
    return table if view is None else table.filter(pc.equal(table["view"], view))
