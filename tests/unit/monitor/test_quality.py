"""Data quality checks of a batch: contract rules with severities, null rates, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

import parity as p
from parity.monitor.config import QualitySettings
from parity.monitor.quality import (
    CheckSeverity,
    check_batch,
    quality_history,
    record_batch_quality,
)

NOW = datetime(2026, 11, 24, 8, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
VIEW = p.FeatureView(
    "spend",
    entities=[USER],
    schema=[
        p.Field("spend", p.Float64, nullable=False, min_value=0),
        p.Field("tier", p.String, allowed_values=["gold", "silver"]),
    ],
    source=p.ParquetSource("s.parquet", timestamp_field="ts"),
)


def batch(
    spend: list[float | None], tier: list[str | None], age: timedelta = timedelta(0)
) -> pa.Table:
    n = len(spend)
    return pa.table(
        {
            "user_id": pa.array(range(n), pa.int64()),
            "spend": pa.array(spend, pa.float64()),
            "tier": pa.array(tier, pa.string()),
            "event_timestamp": pa.array([NOW - age] * n, TS),
        }
    )


def by_check(run):  # type: ignore[no-untyped-def]
    return {(c.check, c.column, c.detail): c for c in run.checks}


def test_a_clean_batch_passes_and_records_null_rates() -> None:
    run = check_batch(VIEW, batch([1.0, 2.0, 3.0, 4.0], ["gold", None, "silver", None]),
                      version=1, source="sync", now=NOW)  # fmt: skip
    assert run.severity is CheckSeverity.PASS
    checks = by_check(run)
    assert checks[("null_rate", "tier", "")].observed == 0.5
    assert checks[("row_count", None, "")].observed == 4


def test_contract_breaks_warn_below_the_fail_ratio_and_fail_above() -> None:
    rows = batch([-1.0] + [1.0] * 199, ["gold"] * 199 + ["bronze"])
    settings = QualitySettings(fail_ratio=0.01)
    run = check_batch(VIEW, rows, version=1, source="push", now=NOW, settings=settings)
    checks = {c.detail: c for c in run.checks if c.check == "contract"}
    assert checks["spend is below min_value 0"].severity is CheckSeverity.WARN
    assert checks["spend is below min_value 0"].observed == 1 / 200
    assert checks["tier is not an allowed value"].severity is CheckSeverity.WARN
    bad = batch([None] * 10 + [1.0] * 90, ["gold"] * 100)
    failing = check_batch(VIEW, bad, version=1, source="push", now=NOW, settings=settings)
    [nulls] = [c for c in failing.checks if c.check == "contract"]
    assert nulls.detail == "spend is null but the field is not nullable"
    assert nulls.severity is CheckSeverity.FAIL and failing.failed == 1


def test_row_count_and_freshness_bounds() -> None:
    settings = QualitySettings(min_rows=5, max_event_age_seconds=3600, max_null_rate=0.2)
    run = check_batch(VIEW, batch([1.0, 2.0], [None, None], age=timedelta(hours=2)),
                      version=1, source="sync", now=NOW, settings=settings)  # fmt: skip
    checks = by_check(run)
    assert checks[("row_count", None, "")].severity is CheckSeverity.FAIL
    assert checks[("freshness", "event_timestamp", "")].severity is CheckSeverity.WARN
    assert checks[("freshness", "event_timestamp", "")].observed == 7200
    assert checks[("null_rate", "tier", "")].severity is CheckSeverity.WARN
    assert {o.metric: o.value for o in run.observations()} == {
        "quality_failed_checks": 1.0,
        "quality_warned_checks": 2.0,
    }


def test_runs_are_stored_one_row_per_check(tmp_path: Path) -> None:
    rows = batch([-1.0, 1.0], ["gold", "gold"])
    run = record_batch_quality(tmp_path, VIEW, rows, version=2, source="sync", now=NOW)
    stored = quality_history(tmp_path, "spend")
    assert stored.num_rows == len(run.checks)
    assert set(stored.column("run_id").to_pylist()) == {run.run_id}
    assert "fail" in stored.column("severity").to_pylist()
    assert quality_history(tmp_path, "other").num_rows == 0
