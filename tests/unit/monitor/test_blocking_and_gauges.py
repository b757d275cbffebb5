"""The block rule (newest audit, operator unblocks), the incremental readers a server
follows, and the monitoring gauges as Prometheus parses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from parity.errors import ServingBlocked
from parity.monitor.audit import AUDITS_TABLE, audits_schema
from parity.monitor.blocking import BlockState, serving_blocked, store_unblock
from parity.monitor.gauges import (
    QualityOutcome,
    audit_gauges,
    blocked_gauges,
    quality_gauges,
    render_gauges,
)
from parity.monitor.records import RecordsTail, append_records
from parity.monitor.serving import QualityState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def audit_row(
    at: int, status: str = "inconsistent", policy: str = "block", view: str = "v", version: int = 1
) -> dict[str, Any]:
    return {
        "audit_id": f"a{at}", "at": T0 + timedelta(minutes=at), "view": view, "version": version,
        "source": "online", "sampled": 10, "disagreeing": 3 if status == "inconsistent" else 0,
        "mismatch_rate": 0.3 if status == "inconsistent" else 0.0, "max_mismatch_rate": 0.0,
        "status": status, "policy": policy, "action": "", "report": "{}",
    }  # fmt: skip


def unblock_row(at: int, view: str = "v", version: int = 1) -> dict[str, Any]:
    return {"at": T0 + timedelta(minutes=at), "view": view, "version": version,
            "actor": "ops", "message": ""}  # fmt: skip


def test_an_inconsistent_audit_under_block_blocks_its_version_only() -> None:
    state = BlockState()
    state.add_audits([audit_row(1), audit_row(1, view="w", policy="alert")])
    assert sorted(state.blocked()) == ["v@v1"]
    block = state.blocked()["v@v1"]
    error = block.error()
    assert isinstance(error, ServingBlocked)
    assert "v@v1" in str(error) and "parity unblock v@v1" in str(error) and "30.00%" in str(error)


def test_a_later_passing_audit_lifts_the_block_whatever_the_order_rows_arrive_in() -> None:
    state = BlockState()
    state.add_audits([audit_row(5, status="consistent")])
    state.add_audits([audit_row(1)])
    assert state.blocked() == {}


def test_an_unblock_lifts_the_block_but_a_newer_failing_audit_blocks_again() -> None:
    state = BlockState()
    state.add_audits([audit_row(1)])
    state.add_unblocks([unblock_row(2)])
    assert state.blocked() == {}
    state.add_audits([audit_row(3)])
    assert list(state.blocked()) == ["v@v1"]


events = st.lists(
    st.tuples(
        st.sampled_from(["audit_bad", "audit_ok", "unblock"]),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=12,
    unique_by=lambda e: e[1],
)


@given(events)
def test_block_state_matches_a_replay_of_events_in_time_order(
    history: list[tuple[str, int]],
) -> None:
    # Oracle: replay in time order; an audit sets the state, an unblock clears it.
    blocked = False
    for kind, _ in sorted(history, key=lambda e: e[1]):
        blocked = kind == "audit_bad" if kind.startswith("audit") else False
    state = BlockState()
    for kind, at in history:  # in arbitrary (given) order, one at a time
        if kind == "unblock":
            state.add_unblocks([unblock_row(at)])
        else:
            state.add_audits(
                [audit_row(at, "inconsistent" if kind == "audit_bad" else "consistent")]
            )
    assert ("v@v1" in state.blocked()) is blocked


def test_serving_blocked_reads_stored_audits_and_unblocks(tmp_path: Path) -> None:
    append_records(tmp_path, AUDITS_TABLE, pa.Table.from_pylist([audit_row(1)], audits_schema()))
    assert serving_blocked(tmp_path, "v", 1)
    store_unblock(tmp_path, "v", 1, message="checked by hand", at=T0 + timedelta(minutes=2))
    assert not serving_blocked(tmp_path, "v", 1)


def test_records_tail_reads_each_file_once(tmp_path: Path) -> None:
    tail = RecordsTail(tmp_path, AUDITS_TABLE, audits_schema())
    assert tail.new_rows().num_rows == 0
    append_records(tmp_path, AUDITS_TABLE, pa.Table.from_pylist([audit_row(1)], audits_schema()))
    append_records(tmp_path, AUDITS_TABLE, pa.Table.from_pylist([audit_row(2)], audits_schema()))
    assert tail.new_rows().num_rows == 2
    assert tail.new_rows().num_rows == 0
    append_records(tmp_path, AUDITS_TABLE, pa.Table.from_pylist([audit_row(3)], audits_schema()))
    assert tail.new_rows().column("audit_id").to_pylist() == ["a3"]


def quality_rows(run: str, at: int, severities: list[str]) -> list[dict[str, Any]]:
    return [{"run_id": run, "at": T0 + timedelta(minutes=at), "view": "v", "version": 1,
             "severity": s} for s in severities]  # fmt: skip


def test_quality_state_keeps_the_newest_run_and_counts_its_checks() -> None:
    state = QualityState()
    state.add(quality_rows("new", 5, ["pass", "fail", "warn", "fail"]))
    state.add(quality_rows("old", 1, ["pass", "pass"]))
    [outcome] = state.outcomes()
    assert (outcome.run_id, outcome.failed, outcome.warned, outcome.status) == ("new", 2, 1, "fail")
    state.add(quality_rows("newer", 9, ["pass"]))
    assert state.outcomes()[0].status == "pass"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge"
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_audit_quality_and_blocked_gauges_parse_as_prometheus_text() -> None:
    gauges = [
        *audit_gauges([audit_row(1)]),
        *blocked_gauges([("v", 1), ("w", 2)], {"v@v1"}),
        *quality_gauges([QualityOutcome("v", 1, "r", T0, 0, 2)]),
    ]
    parsed = samples(render_gauges(gauges))
    labels = (("version", "1"), ("view", "v"))
    assert parsed[("parity_monitor_audit_mismatch_rate", labels)] == pytest.approx(0.3)
    assert parsed[("parity_monitor_audit_inconsistent", labels)] == 1.0
    assert parsed[("parity_monitor_blocked", labels)] == 1.0
    assert parsed[("parity_monitor_blocked", (("version", "2"), ("view", "w")))] == 0.0
    status = {k[1][0][1]: v for k, v in parsed.items() if k[0] == "parity_monitor_quality_status"}
    assert status == {"pass": 0.0, "warn": 1.0, "fail": 0.0}
    assert parsed[("parity_monitor_quality_warned_checks", labels)] == 2.0
    assert (
        parsed[("parity_monitor_audit_timestamp_seconds", labels)]
        == (T0 + timedelta(minutes=1)).timestamp()
    )
