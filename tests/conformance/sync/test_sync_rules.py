"""The synchronization rules of DESIGN.md, one test per row, on every online backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import parity as p
from parity.offline.base import ViewReadSpec

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])


def spend_view(**overrides: Any) -> p.FeatureView:
    args: dict[str, Any] = {
        "entities": [USER],
        "schema": [
            p.Field("spend", p.Float64, nullable=False, min_value=0),
            p.Field("tier", p.String),
        ],
        "source": p.DeltaSource(
            "data/spend", timestamp_field="ts", created_timestamp_field="created"
        ),
        "ttl": timedelta(days=30),
    }
    args.update(overrides)
    return p.FeatureView("spend", **args)


def rows(*items: tuple[int, float | None, str | None, datetime, datetime]) -> pa.Table:
    """(user_id, spend, tier, event time, created time) rows in the source's column names."""
    ids, spend, tier, ts, created = [list(c) for c in zip(*items, strict=True)] or [[]] * 5
    return pa.table(
        {
            "user_id": pa.array(ids, pa.int64()),
            "spend": pa.array(spend, pa.float64()),
            "tier": pa.array(tier, pa.string()),
            "ts": pa.array(ts, TS),
            "created": pa.array(created, TS),
        }
    )


class Repo:
    """A repository with one view, a writer for its Delta source, and readers."""

    def __init__(self, root: Path, online_yaml: str, *, auto_promote: bool = True) -> None:
        root.mkdir(parents=True, exist_ok=True)
        # One project per repo: repos of one test share the online store's key prefix.
        (root / "parity.yaml").write_text(
            f"project: sync_{root.name}\nauto_promote: {str(auto_promote).lower()}\n"
            f"registry: {{type: sqlite, path: data/registry.db}}\n{online_yaml}"
        )
        self.root = root
        self.store = p.FeatureStore(root)

    def apply(self, *objs: Any) -> None:
        self.store.apply(list(objs), message="test")

    def append(self, table: pa.Table, version: int = 1) -> None:
        view = self.store.get_feature_view(f"spend@v{version}")
        spec = ViewReadSpec.from_view(view, version=version, repo_root=self.root)
        report = self.store.offline_engine.append(spec, table)
        assert report.rows_quarantined == 0

    def backfill(
        self, table: pa.Table, *, start: datetime, end: datetime, version: int = 1
    ) -> None:
        view = self.store.get_feature_view(f"spend@v{version}")
        spec = ViewReadSpec.from_view(view, version=version, repo_root=self.root)
        self.store.offline_engine.backfill(spec, table, start=start, end=end)

    def online(self, *user_ids: int, ref: str = "spend", now: datetime | None = None) -> Any:
        return self.store.get_online_features(
            features=[ref],
            entity_rows=[{"user_id": u} for u in user_ids],
            now=now or T0 + timedelta(days=1),
        )

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def make_repo(tmp_path: Path, online_yaml: str) -> Iterator[Callable[..., Repo]]:
    made: list[Repo] = []

    def make(**kwargs: Any) -> Repo:
        repo = Repo(tmp_path / f"repo{len(made)}", online_yaml, **kwargs)
        made.append(repo)
        return repo

    yield make
    for repo in made:
        repo.close()


D = timedelta(days=1)
H = timedelta(hours=1)
US = timedelta(microseconds=1)
NOW = T0 + 10 * D
WINDOW = {"start": T0 - 365 * D, "end": T0 + 365 * D}


def values(repo: Repo, *user_ids: int, ref: str = "spend", now: datetime = NOW) -> list[list[Any]]:
    return repo.online(*user_ids, ref=ref, now=now).to_vector()


def materialize(repo: Repo, view: str = "spend@v1") -> Any:
    [report] = repo.store.materialize(WINDOW["start"], WINDOW["end"], views=[view])
    return report


def test_new_version_is_published_then_promoted_only_when_validated(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo(auto_promote=False)
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0), (2, 20.0, "b", T0, T0)))
    with pytest.raises(p.ParityError, match="never been synchronized"):
        repo.store.promote("spend@v1")
    report = materialize(repo)
    assert report.outcome.value == "succeeded" and report.rows_written == 2
    assert (
        report.validation is not None
        and report.validation.passed
        and report.validation.sampled == 2
    )
    assert not report.promoted
    assert repo.store.get_version("spend@v1").state.value == "pending"
    repo.store.promote("spend@v1", message="validated")
    assert values(repo, 1, 2) == [[10.0, "a"], [20.0, "b"]]


def test_auto_promote_after_a_validated_sync(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo(auto_promote=True)
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0)))
    assert materialize(repo).promoted
    assert repo.store.get_version("spend@v1").state.value == "serving"


def test_definition_update_keeps_serving_the_old_version_until_the_new_is_validated(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo(auto_promote=False)
    repo.apply(spend_view(), p.FeatureService("svc", features=["spend"]))
    repo.append(rows((1, 10.0, "a", T0, T0)))
    materialize(repo)
    repo.store.promote("spend@v1")
    # Breaking change: a new source and ttl -> spend@v2, pending, in its own namespace.
    v2 = spend_view(
        source=p.DeltaSource(
            "data/spend_v2", timestamp_field="ts", created_timestamp_field="created"
        ),
        ttl=timedelta(days=60),
    )
    repo.apply(v2, p.FeatureService("svc", features=["spend"]))
    repo.append(rows((1, 99.0, "z", T0, T0)), version=2)
    materialize(repo, "spend@v2")
    resp = repo.store.get_online_features(
        feature_service="svc", entity_rows=[{"user_id": 1}], now=NOW
    )
    assert (resp.service_version, resp.to_vector()) == (1, [[10.0, "a"]])
    assert values(repo, 1, ref="spend@v2") == [[99.0, "z"]]
    repo.store.promote("spend@v2")
    repo.store.repin("svc")
    repo.store.serving_plans.clear()
    resp = repo.store.get_online_features(
        feature_service="svc", entity_rows=[{"user_id": 1}], now=NOW
    )
    assert (resp.service_version, resp.to_vector()) == (2, [[99.0, "z"]])
    pinned_v1 = repo.store.get_online_features(
        feature_service="svc@v1", entity_rows=[{"user_id": 1}], now=NOW
    )
    assert pinned_v1.to_vector() == [[10.0, "a"]]


def test_value_refresh_publishes_the_latest_valid_value_per_entity(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0), (1, 11.0, "a", T0 + H, T0 + H), (2, 5.0, "b", T0, T0)))
    [first] = repo.store.materialize_incremental(T0 + D, views=["spend@v1"])
    assert (first.rows_read, first.rows_written) == (3, 2)
    repo.append(rows((1, 12.0, "c", T0 + 2 * H, T0 + D + H)))
    [second] = repo.store.materialize_incremental(T0 + 2 * D, views=["spend@v1"])
    assert (second.rows_read, second.rows_written) == (1, 1)
    assert values(repo, 1, 2) == [[12.0, "c"], [5.0, "b"]]


def test_late_row_never_overwrites_a_newer_online_value(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "new", T0 + D, T0 + D)))
    repo.store.materialize_incremental(T0 + 2 * D, views=["spend@v1"])
    # Written later, but with an older event time: a late arrival.
    repo.append(rows((1, 1.0, "old", T0, T0 + 3 * D)))
    [report] = repo.store.materialize_incremental(T0 + 4 * D, views=["spend@v1"])
    # The incremental watermark is on write time, so the late row IS read...
    assert (report.rows_read, report.rows_written, report.rows_skipped) == (1, 0, 1)
    # ...and it does not win.
    assert values(repo, 1) == [[10.0, "new"]]


def test_late_correction_of_the_newest_row_replaces_the_online_value(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0 + D, T0 + D), (2, 20.0, "b", T0 + D, T0 + D)))
    repo.store.materialize_incremental(T0 + 2 * D, views=["spend@v1"])
    # Days later, inside the serving window: a correction of user 1's newest row (same event
    # time, written later) and of user 2's older history (an older event time).
    repo.append(rows((1, 12.0, "fixed", T0 + D, T0 + 3 * D), (2, 2.0, "old fix", T0, T0 + 3 * D)))
    [report] = repo.store.materialize_incremental(T0 + 4 * D, views=["spend@v1"])
    assert (report.rows_read, report.rows_written, report.rows_skipped) == (2, 1, 1)
    assert values(repo, 1, 2) == [[12.0, "fixed"], [20.0, "b"]]
    # A replay of the same rows (a retried sync) changes nothing.
    [again] = repo.store.materialize(T0 - D, T0 + 2 * D, views=["spend@v1"])
    assert again.rows_written == 0
    assert values(repo, 1, 2) == [[12.0, "fixed"], [20.0, "b"]]


def test_late_correction_older_by_created_time_never_replaces_the_online_value(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    # The online value is the correction (created T0 + 2D); the original row (created
    # T0 + D) arrives late, after it: same event time, older created time, never wins.
    repo.append(rows((1, 12.0, "fixed", T0 + D, T0 + 2 * D)))
    repo.store.materialize_incremental(T0 + 3 * D, views=["spend@v1"])
    repo.append(rows((1, 10.0, "original", T0 + D, T0 + D)))
    [report] = repo.store.materialize(T0, T0 + 2 * D, views=["spend@v1"])
    assert (report.rows_read, report.rows_written) == (2, 0)
    assert values(repo, 1) == [[12.0, "fixed"]]


def test_incremental_sync_picks_up_late_rows_written_after_the_watermark(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0)))
    repo.store.materialize_incremental(T0 + D, views=["spend@v1"])
    # User 2's value for an old event time lands after the first run: event-time watermarks miss it.
    repo.append(rows((2, 7.0, "b", T0 - 5 * D, T0 + 2 * D)))
    repo.store.materialize_incremental(T0 + 3 * D, views=["spend@v1"])
    assert values(repo, 2) == [[7.0, "b"]]


def test_backfill_changes_online_only_where_the_current_value_changes(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0 + D, T0 + D), (2, 20.0, "b", T0 + D, T0 + D)))
    repo.store.materialize_incremental(T0 + 2 * D, views=["spend@v1"])
    # Backfill [T0, T0 + 2D): rewrites history of user 1 (older than its current value) and
    # corrects user 2's current row (same event time, written later).
    repo.backfill(
        rows(
            (1, 1.0, "hist", T0, T0 + 3 * D),
            (1, 10.0, "a", T0 + D, T0 + D),
            (2, 21.0, "fixed", T0 + D, T0 + 3 * D),
        ),
        start=T0,
        end=T0 + 2 * D,
    )
    [report] = repo.store.materialize_incremental(T0 + 4 * D, views=["spend@v1"])
    assert report.rows_written == 1
    assert values(repo, 1, 2) == [[10.0, "a"], [21.0, "fixed"]]


def test_backfill_that_deletes_the_served_row_retracts_it_to_the_next_newest_valid_row(
    make_repo: Callable[..., Repo],
) -> None:
    # Failed on main before #13: the deleted rows stayed online (online only moved forward).
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(
        rows(
            (1, 5.0, "older", T0, T0),
            (1, -1.0, "invalid", T0 + H, T0 + H),  # breaks min_value: never served
            (1, 10.0, "served", T0 + D, T0 + D),
            (2, 20.0, "only", T0 + D, T0 + D),
            (3, 30.0, "kept", T0 + D, T0 + D),
        )
    )
    materialize(repo)
    assert values(repo, 1, 2, 3, ref="spend@v1") == [
        [10.0, "served"],
        [20.0, "only"],
        [30.0, "kept"],
    ]
    # The backfill of [T0 + 12h, T0 + 2D) keeps only user 3's row.
    repo.backfill(rows((3, 30.0, "kept", T0 + D, T0 + D)), start=T0 + 12 * H, end=T0 + 2 * D)
    report = materialize(repo)
    assert report.outcome.value == "succeeded"
    # User 1 falls back to its next-newest valid row, user 2 has none left, user 3 is as is.
    assert values(repo, 1, 2, 3, ref="spend@v1") == [[5.0, "older"], [None, None], [30.0, "kept"]]
    assert repo.online(2, ref="spend@v1", now=NOW).statuses[0][0].value == "not_found"
    [record, *_] = repo.store.registry.sync_records(repo.store.project, "spend", 1)
    assert record.details["retraction"]["removed"] == 1
    assert record.details["retraction"]["replaced"] == 1
    # A further sync finds nothing more to retract.
    materialize(repo)
    assert values(repo, 1, 2, 3, ref="spend@v1") == [[5.0, "older"], [None, None], [30.0, "kept"]]


def test_backfill_that_replaces_the_served_row_serves_the_replacement(
    make_repo: Callable[..., Repo],
) -> None:
    # Same key, event and created time, another value: only the backfill can say so.
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 90.0, "wrong", T0 + D, T0 + D), (2, 20.0, "b", T0 + D, T0 + D)))
    repo.store.materialize_incremental(T0 + 2 * D, views=["spend@v1"])
    repo.backfill(
        rows((1, 9.0, "right", T0 + D, T0 + D), (2, 20.0, "b", T0 + D, T0 + D)),
        start=T0,
        end=T0 + 2 * D,
    )
    repo.store.materialize_incremental(T0 + 3 * D, views=["spend@v1"])
    assert values(repo, 1, 2) == [[9.0, "right"], [20.0, "b"]]


def test_backfill_outside_the_served_rows_range_changes_nothing_online(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 5.0, "old", T0, T0), (1, 10.0, "served", T0 + 5 * D, T0 + 5 * D)))
    materialize(repo)
    repo.backfill(rows((1, 6.0, "hist", T0, T0 + 6 * D)), start=T0, end=T0 + D)
    materialize(repo)
    assert values(repo, 1) == [[10.0, "served"]]
    [record, *_] = repo.store.registry.sync_records(repo.store.project, "spend", 1)
    assert record.details["retraction"].get("swapped", 0) == 0


def test_contract_violations_are_quarantined_counted_and_never_served(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(
        rows((1, 10.0, "a", T0, T0), (1, -5.0, "bad", T0 + H, T0 + H), (2, None, "x", T0, T0))
    )
    report = materialize(repo)
    assert report.rows_rejected == 2
    assert report.rejections == {
        "spend is below min_value 0": 1,
        "spend is null but the field is not nullable": 1,
    }
    assert values(repo, 1, 2, ref="spend@v1") == [[10.0, "a"], [None, None]]
    from deltalake import DeltaTable

    quarantined = DeltaTable(
        str(repo.store.offline_path / "quarantine" / "spend")
    ).to_pyarrow_table()
    assert sorted(quarantined.column("operation").to_pylist()) == ["sync", "sync"]
    assert any("below min_value" in r for r in quarantined.column("reason").to_pylist())
    # Two of three rows rejected is far above the 1% threshold: the version is not promoted.
    assert report.validation is not None and not report.validation.passed and not report.promoted


def test_entity_key_mismatch_blocks_the_sync_and_reports_it(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    text_key = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
    repo.apply(spend_view(entities=[text_key]))
    # The source table's key column holds strings: it cannot be read as int64.
    from deltalake import write_deltalake

    table = rows((1, 10.0, "a", T0, T0)).set_column(0, "user_id", pa.array(["u1"], pa.string()))
    write_deltalake(str(repo.root / "data" / "spend"), table, mode="append")
    report = materialize(repo)
    assert report.outcome.value == "blocked"
    assert "user_id" in (report.error or "")
    [record] = repo.store.registry.sync_records(repo.store.project, "spend", 1)
    assert record.outcome == "blocked" and record.rows_written == 0
    assert repo.store.get_version("spend@v1").state.value == "pending"


def test_nullable_field_added_reads_null_until_the_next_sync(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0)))
    materialize(repo)
    grown = spend_view(
        schema=[
            p.Field("spend", p.Float64, nullable=False, min_value=0),
            p.Field("tier", p.String),
            p.Field("score", p.Float32),
        ]
    )
    repo.apply(grown)
    assert repo.store.get_version("spend@v1").revision == 1
    repo.store.serving_plans.clear()
    assert values(repo, 1) == [[10.0, "a", None]]


def test_nullable_field_added_before_the_source_has_it_syncs_and_trains_as_null(
    make_repo: Callable[..., Repo],
) -> None:
    # Failed on main before #13: the compatible change blocked every sync of the serving
    # version and every training set on the view ("no column 'score'").
    repo = make_repo()
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0)))
    materialize(repo)
    repo.apply(
        spend_view(
            schema=[
                p.Field("spend", p.Float64, nullable=False, min_value=0),
                p.Field("tier", p.String),
                p.Field("score", p.Float32),
            ]
        )
    )
    repo.store.serving_plans.clear()
    from deltalake import write_deltalake

    write_deltalake(
        str(repo.root / "data" / "spend"), rows((1, 11.0, "b", T0 + H, T0 + H)), mode="append"
    )
    report = materialize(repo)
    assert (report.outcome.value, report.rows_written) == ("succeeded", 1)
    assert values(repo, 1) == [[11.0, "b", None]]
    entity = pa.table(
        {"user_id": pa.array([1], pa.int64()), "event_timestamp": pa.array([T0 + D], TS)}
    )
    frame = repo.store.get_historical_features(entity, features=["spend"]).to_arrow()
    assert frame.column("score").to_pylist() == [None]
    assert frame.column("spend").to_pylist() == [11.0]


def test_ttl_is_enforced_online_with_status_and_age(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.apply(spend_view(ttl=timedelta(days=2)))
    repo.append(rows((1, 10.0, "a", T0, T0)))
    materialize(repo)
    inside = repo.online(1, now=T0 + 2 * D)  # exactly at t - ttl: still valid
    assert inside.to_vector() == [[10.0, "a"]] and inside.statuses[0][0].value == "present"
    outside = repo.online(1, now=T0 + 2 * D + timedelta(microseconds=1))
    assert outside.to_vector() == [[None, None]]
    assert [s.value for s in outside.statuses[0]] == ["outside_max_age", "outside_max_age"]
    assert outside.ages()[0][0] == pytest.approx((2 * D).total_seconds(), abs=1e-3)


def test_retire_removes_the_versions_online_keys(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo(auto_promote=False)
    repo.apply(spend_view())
    repo.append(rows((1, 10.0, "a", T0, T0)))
    materialize(repo)
    repo.store.retire("spend@v1")
    view = repo.store.get_feature_view("spend@v1")
    from parity.online.base import ReadRequest, ViewTable

    table = ViewTable.from_view(view, project=repo.store.project, version=1)
    assert repo.store.online_store.read([ReadRequest(table, [(1,)])]) == [[None]]


# --- property: online equals offline point-in-time after any history ---------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ROW = st.tuples(st.integers(1, 4), st.integers(0, 50), st.integers(0, 9))  # user, value, event day
_APPEND = st.tuples(st.just("append"), st.lists(_ROW, min_size=1, max_size=4))
_OPS = st.tuples(
    _APPEND,  # the source table exists before anything else happens
    st.lists(
        st.one_of(
            _APPEND,
            st.tuples(st.just("correct"), st.lists(_ROW, min_size=1, max_size=3)),
            # A backfill that deletes every row of the (user, event day) of rows written so
            # far (drawn by index), often the one served.
            st.tuples(
                st.just("delete"),
                st.lists(st.tuples(st.integers(0, 30)), min_size=1, max_size=2),
            ),
            st.tuples(st.just("sync"), st.just([])),
        ),
        max_size=6,
    ),
).map(lambda first_rest: [first_rest[0], *first_rest[1]])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_online_equals_offline_point_in_time_after_any_history(
    make_repo: Callable[..., Repo], ops: list[tuple[str, list[tuple[int, int, int]]]]
) -> None:
    repo = make_repo()
    repo.apply(spend_view(ttl=None))
    written: list[tuple[int, float, datetime, datetime]] = []  # user, value, event, created
    clock = T0 + 100 * D
    for op, items in ops:
        clock += H
        if op == "sync":
            repo.store.materialize_incremental(clock, views=["spend@v1"])
            continue
        start, end = T0, T0 + 10 * D
        if op == "delete":
            # Newest rows first: a drawn index most often hits a row that is served.
            newest = sorted(written, key=lambda r: (r[2], r[3]), reverse=True)
            gone = {newest[i % len(newest)][::2] for (i, *_) in items} if newest else set()
            written = [r for r in written if (r[0], r[2]) not in gone]
            kept = [r for r in written if start <= r[2] < end]
            repo.backfill(rows(*[(u, v, "t", e, c) for u, v, e, c in kept]), start=start, end=end)
            continue
        # Distinct write times: rows equal in (event, created) but not in value are ambiguous,
        # and no rule can say which one is "the" value.
        new = [(u, float(v), T0 + day * D, clock + i * US) for i, (u, v, day) in enumerate(items)]
        if op == "append":
            repo.append(rows(*[(u, v, "t", e, c) for u, v, e, c in new]))
        else:
            # A correction backfill: the range keeps its rows and gains newer-written ones.
            kept = [r for r in written if start <= r[2] < end]
            repo.backfill(
                rows(*[(u, v, "t", e, c) for u, v, e, c in kept + new]), start=start, end=end
            )
        written.extend(new)
    clock += H
    repo.store.materialize_incremental(clock, views=["spend@v1"])
    users = [1, 2, 3, 4]
    # Oracle 1: plain Python, the greatest (event, created) row per user (None: no row left).
    expected = {
        u: max([(e, c, v) for uu, v, e, c in written if uu == u], default=(0, 0, None))[2]
        for u in users
    }
    online = dict(zip(users, (row[0] for row in values(repo, *users, ref="spend@v1")), strict=True))
    assert online == expected
    # Oracle 2: the offline engine's point-in-time join at the same instant.
    entity = pa.table(
        {
            "user_id": pa.array(users, pa.int64()),
            "event_timestamp": pa.array([clock] * len(users), TS),
        }
    )
    spec = ViewReadSpec.from_view(
        repo.store.get_feature_view("spend@v1"), version=1, repo_root=repo.root
    )
    offline = (
        repo.store.offline_engine.get_historical_features(entity, [spec]).to_arrow().to_pydict()
    )
    assert dict(zip(offline["user_id"], offline["spend"], strict=True)) == expected


def test_training_frame_and_serving_vector_share_the_canonical_order(
    make_repo: Callable[..., Repo],
) -> None:
    repo = make_repo()
    repo.apply(spend_view(), p.FeatureService("svc", features=["spend:tier,spend"]))
    repo.append(rows((1, 10.0, "a", T0, T0)))
    materialize(repo)
    entity = pa.table(
        {"user_id": pa.array([1, 1], pa.int64()), "event_timestamp": pa.array([T0 - D, T0 + D], TS)}
    )
    frame = repo.store.get_historical_features(entity, feature_service="svc").to_arrow()
    assert frame.column_names == ["user_id", "event_timestamp", "tier", "spend"]
    assert frame.column("spend").to_pylist() == [None, 10.0]
    served = repo.store.get_online_features(
        feature_service="svc", entity_rows=[{"user_id": 1}], now=T0 + D
    )
    assert list(served.feature_names) == frame.column_names[2:]
    assert served.to_vector() == [
        [frame.column("tier")[1].as_py(), frame.column("spend")[1].as_py()]
    ]


def test_store_append_backfill_and_saved_datasets(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.apply(spend_view(), p.FeatureService("svc", features=["spend"]))
    report = repo.store.append("spend", rows((1, 10.0, "a", T0, T0), (2, -1.0, "bad", T0, T0)))
    assert (report.rows_written, report.rows_quarantined) == (
        2,
        0,
    )  # the contract is the sync's job
    repo.store.backfill("spend@v1", rows((1, 12.0, "b", T0, T0 + H)), start=T0, end=T0 + D)
    materialize(repo)
    entity = pa.table(
        {"user_id": pa.array([1], pa.int64()), "event_timestamp": pa.array([T0 + H], TS)}
    )
    saved = repo.store.get_historical_features(entity, features=["spend@v1:spend"]).save("train")
    again = repo.store.get_saved_dataset("train")
    assert again.lineage.row_count == saved.lineage.row_count == 1
    assert values(repo, 1, ref="spend@v1") == [[12.0, "b"]]
