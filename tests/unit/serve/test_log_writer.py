"""The log writer (run in-process on a byte stream): whatever the server frames, the typed
Parquet files hold exactly, with the declared types; a malformed frame loses only itself."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from parity.monitor.log_layout import LogLayout, find_layouts
from parity.retrieval.vectors import FeatureStatus, OnlineResponse
from parity.serve.log_writer import encode_frame, run
from parity.serve.request_log import ServedPrediction, layout_frame, request_frame, stamp_positions

STATUSES = tuple(s.value for s in FeatureStatus)
STAMPS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int64": st.integers(-(2**63), 2**63 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "float64": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(max_size=5),
    "bool": st.booleans(),
    "timestamp": STAMPS,
    "bytes": st.binary(max_size=5),
    "list<string>": st.lists(st.none() | st.text(max_size=3), max_size=3),
    "list<int64>": st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=3),
    "vector<float32,2>": st.lists(
        st.integers(-4000, 4000).map(lambda i: i / 8), min_size=2, max_size=2
    ),
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[LogLayout, list[list[Any]]]:
    """A layout and a few requests of it (values, statuses, per-view event times)."""
    dtypes = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=6))
    views = draw(st.integers(1, 3))
    drawn = draw(st.lists(st.integers(0, views - 1), min_size=len(dtypes), max_size=len(dtypes)))
    rank = {v: i for i, v in enumerate(sorted(set(drawn)))}  # every view serves a feature
    view_of = sorted(rank[v] for v in drawn)
    views = len(rank)
    layout = LogLayout(
        service=draw(st.none() | st.just("svc")),
        service_version=1,
        features=tuple(
            (f"f{i}", t, v) for i, (t, v) in enumerate(zip(dtypes, view_of, strict=True))
        ),
        join_keys=(("user_id", "int64"),),
        views=tuple(f"view{v}@v1" for v in range(views)),
        statuses=STATUSES,
        prediction=draw(st.booleans()),
    )
    out = []
    for number in range(draw(st.integers(1, 3))):
        size = draw(st.integers(1, 4))
        rows = [{"user_id": draw(st.integers(0, 10**12)), "other": "kept out"} for _ in range(size)]
        values = [[draw(st.none() | VALUES[t]) for t in dtypes] for _ in range(size)]
        statuses = [[draw(st.sampled_from(STATUSES)) for _ in dtypes] for _ in range(size)]
        stamps = []
        for _ in range(size):
            per_view = [draw(st.none() | STAMPS) for _ in range(views)]
            stamps.append([per_view[v] for v in view_of])
        served = draw(STAMPS)
        weight = draw(st.sampled_from([1.0, 2.5]))
        predicted = None
        if layout.prediction:
            scores = [draw(st.floats(0, 1)) for _ in range(size)]
            predicted = ["model", 3, "champion", scores]
        out.append([0, f"r{number}", served, rows, values, statuses, stamps, weight, predicted])
    return layout, out


def write(frames: list[bytes], root: Path) -> None:
    run(root, 3600.0, 10**9, io.BytesIO(b"".join(frames)))


@settings(max_examples=60, deadline=None)
@given(requests())
def test_every_logged_value_reads_back_exactly_with_its_declared_type(
    drawn: tuple[LogLayout, list[list[Any]]],
) -> None:
    layout, frames = drawn
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        positions = stamp_positions(layout)
        encoded = [layout_frame(layout, 0)]
        for _, request_id, served, rows, values, statuses, stamps, weight, predicted in frames:
            response = OnlineResponse(
                layout.feature_names, ("user_id",), rows, values, statuses, stamps, served
            )
            prediction = None if predicted is None else ServedPrediction(*predicted)
            encoded.append(request_frame(0, positions, request_id, response, weight, prediction))
        write(encoded, root)
        (stored,) = find_layouts(root)
        assert stored.layout == layout
        got = {
            (r["request_id"], r["row_index"]): r
            for path in stored.files()
            for r in pq.read_table(path).to_pylist()
        }
    names = layout.feature_names
    assert len(got) == sum(len(f[4]) for f in frames)
    for _, request_id, served, rows, values, statuses, stamps, weight, predicted in frames:
        for i, row in enumerate(rows):
            logged = got[(request_id, i)]
            assert logged["served_at"] == served and logged["sample_weight"] == weight
            assert logged["entity"] == {"user_id": row["user_id"]}
            assert (logged["service"], logged["service_version"]) == (layout.service, 1)
            assert logged["features"] == dict(zip(names, values[i], strict=True))
            assert logged["statuses"] == dict(zip(names, statuses[i], strict=True))
            for name, _, view in layout.features:
                position = names.index(name)
                assert logged["event_timestamps"][layout.views[view]] == stamps[i][position]
            if predicted is not None:
                model, version, role, scores = predicted
                assert logged["prediction"] == {
                    "model": model, "model_version": version, "role": role, "score": scores[i],
                }  # fmt: skip


def test_a_ragged_frame_is_skipped_and_the_rest_is_written(tmp_path: Path) -> None:
    layout = LogLayout("svc", 1, (("x", "float64", 0),), (("user_id", "int64"),), ("v@v1",),
                       STATUSES)  # fmt: skip
    at = datetime(2026, 11, 24, 9, tzinfo=UTC)
    good = [0, "good", at, [{"user_id": 1}], [[1.5]], [["present"]], [[at]], 1.0, None]
    ragged = [0, "ragged", at, [{"user_id": 2}], [[1.5, 2.5]], [["present"]], [[at]], 1.0, None]
    unknown = [0, "unknown", at, [{"user_id": 3}], [[1.5]], [["weird"]], [[at]], 1.0, None]
    write([layout_frame(layout, 0), *(encode_frame(f) for f in (ragged, unknown, good))], tmp_path)
    (stored,) = find_layouts(tmp_path)
    ids = [r["request_id"] for p in stored.files() for r in pq.read_table(p).to_pylist()]
    assert ids == ["good"]


def test_rows_of_two_days_go_to_two_date_partitions(tmp_path: Path) -> None:
    layout = LogLayout(None, None, (("x", "int64", 0),), (), ("v@v1",), STATUSES)
    frames = [
        [0, f"r{day}", datetime(2026, 11, day, 23, 59, tzinfo=UTC), [{}], [[day]], [["present"]],
         [[None]], 1.0, None]
        for day in (1, 2)
    ]  # fmt: skip
    write([layout_frame(layout, 0), *(encode_frame(f) for f in frames)], tmp_path)
    (stored,) = find_layouts(tmp_path)
    days = sorted(p.name for p in stored.path.iterdir())
    assert days == ["date=2026-11-01", "date=2026-11-02"]
    start = datetime(2026, 11, 2, tzinfo=UTC)
    assert [Path(f).parent.name for f in stored.files(start=start)] == ["date=2026-11-02"]
    assert [Path(f).parent.name for f in stored.files(end=start)] == ["date=2026-11-01"]
    # Folders are UTC days: 01:00 at UTC+2 on the 2nd is still the 1st in UTC.
    paris = datetime(2026, 11, 2, 1, tzinfo=timezone(timedelta(hours=2)))
    assert len(stored.files(start=paris)) == 2
