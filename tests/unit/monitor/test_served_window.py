"""served_window over a typed request log written by the real writer: ``[start, end)`` on
``served_at`` in any zone, naive bounds refused, numeric and categorical casts."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from parity.errors import NaiveTimestampError
from parity.monitor.log_layout import LogLayout
from parity.monitor.served import served_window
from parity.retrieval.vectors import FeatureStatus
from parity.serve.log_writer import encode_frame, run
from parity.serve.request_log import layout_frame

AT = datetime(2026, 11, 24, 9, tzinfo=UTC)


@pytest.fixture
def offline(tmp_path: Path) -> Path:
    layout = LogLayout(
        "svc", 1, (("n", "int64", 0), ("flag", "bool", 0)), (("user_id", "int64"),),
        ("v@v1",), tuple(s.value for s in FeatureStatus),
    )  # fmt: skip
    frames = [layout_frame(layout, 0)]
    for minute in range(4):  # one request a minute, the last one on the next UTC day
        served = (
            AT + timedelta(minutes=minute) + (timedelta(hours=15) if minute == 3 else timedelta())
        )
        frames.append(
            encode_frame(
                [
                    0,
                    f"r{minute}",
                    served,
                    [{"user_id": minute}],
                    [[minute, minute % 2 == 0]],
                    [["present", "present"]],
                    [[served]],
                    1.0,
                    None,
                ]
            )
        )
    run(tmp_path / "request_log", 3600.0, 10**9, io.BytesIO(b"".join(frames)))
    return tmp_path


def test_window_is_served_at_in_start_inclusive_end_exclusive(offline: Path) -> None:
    kinds = {"n": "numeric", "flag": "categorical"}
    window = served_window(
        offline, kinds=kinds, start=AT + timedelta(minutes=1), end=AT + timedelta(minutes=3)
    )
    assert window.column("request_id").to_pylist() == ["r1", "r2"]
    assert window.column("n").to_pylist() == [1.0, 2.0]  # numeric as float64
    assert window.column("flag").to_pylist() == ["false", "true"]  # categorical as text
    later = served_window(offline, kinds=kinds, start=AT + timedelta(hours=1))
    assert later.column("request_id").to_pylist() == ["r3"]  # on the next UTC day


def test_window_bounds_in_another_zone_mean_the_same_instants(offline: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    window = served_window(
        offline, kinds={"n": "numeric"}, start=(AT + timedelta(minutes=2)).astimezone(plus_two)
    )
    assert window.column("request_id").to_pylist() == ["r2", "r3"]


def test_a_naive_window_bound_is_refused(offline: Path) -> None:
    with pytest.raises(NaiveTimestampError, match="start"):
        served_window(offline, kinds={"n": "numeric"}, start=datetime(2026, 11, 24))
