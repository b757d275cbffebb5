"""The serving-plan cache: one registry read per request shape and period, and an expired
plan still served while the registry is unreachable (pins are immutable).

A temporary repository with a real SQLite registry; the snapshot function is the store's,
wrapped to count its calls or to fail like an unreachable registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import parity as p
from parity.config import RepoConfig
from parity.errors import FeatureServiceNotFound, RegistryUnreachable
from parity.registry import RegistrySnapshot
from parity.retrieval.plan_cache import ServingPlanCache

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
STATS = p.FeatureView(
    "stats",
    entities=[USER],
    schema=[p.Field("spend", p.Float64), p.Field("country", p.String)],
    source=p.ParquetSource("data/stats.parquet", timestamp_field="ts"),
    ttl=timedelta(days=2),
)
SERVICE = p.FeatureService("svc", features=["stats:country,spend"])


class Registry:
    """The store's snapshot, counted; ``down`` makes it fail like an unreachable registry."""

    def __init__(self, store: p.FeatureStore) -> None:
        self.store = store
        self.calls = 0
        self.down = False

    def snapshot(self) -> RegistrySnapshot:
        self.calls += 1
        if self.down:
            raise RegistryUnreachable("registry down")
        return self.store.snapshot()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with p.FeatureStore(tmp_path, config=RepoConfig(project="demo")) as store:
        store.apply([USER, STATS, SERVICE], message="v1")
        # Only a service whose pins serve answers (the serving rule).
        store.promote("stats@v1", force=True, message="cache test")
        yield Registry(store)


def test_the_registry_is_read_once_per_period_whatever_the_request_shapes(
    registry: Registry,
) -> None:
    cache = ServingPlanCache(registry.snapshot, ttl_seconds=60.0)
    first = cache.get(feature_service="svc")
    assert cache.get(feature_service="svc") is first
    assert registry.calls == 1
    assert first.output_names == ("country", "spend")
    cache.get(features=["stats@v1:spend"])  # resolved from the snapshot already read
    assert registry.calls == 1 and len(cache) == 2
    cache.clear()
    assert cache.get(feature_service="svc") is not first
    assert registry.calls == 2


def test_an_expired_plan_is_served_while_the_registry_is_unreachable(
    registry: Registry,
) -> None:
    cache = ServingPlanCache(registry.snapshot, ttl_seconds=0.0, wait_seconds=2.0)
    plan = cache.get(feature_service="svc")
    registry.down = True
    assert cache.get(feature_service="svc") is plan
    # A new shape resolves from the last snapshot the registry gave.
    assert cache.get(features=["stats@v1:spend"]).output_names == ("spend",)
    empty = ServingPlanCache(registry.snapshot, ttl_seconds=0.0, wait_seconds=2.0)
    with pytest.raises(RegistryUnreachable, match="no serving plan was ever read"):
        empty.get(features=["stats@v1:spend"])  # never resolved: nothing to fall back on


def test_past_the_staleness_bound_an_unreachable_registry_is_a_clear_error(
    registry: Registry,
) -> None:
    cache = ServingPlanCache(
        registry.snapshot, ttl_seconds=0.0, max_stale_seconds=0.2, wait_seconds=2.0
    )
    cache.get(feature_service="svc")
    registry.down = True
    time.sleep(0.3)
    assert cache.lookup(feature_service="svc") is None
    with pytest.raises(RegistryUnreachable, match=r"over the 0\.2 s bound"):
        cache.get(feature_service="svc")
    registry.down = False
    assert cache.get(feature_service="svc").output_names == ("country", "spend")
    assert cache.age_seconds() is not None and cache.age_seconds() < 0.2  # type: ignore[operator]


def test_a_stale_plan_is_served_at_once_while_one_refresh_waits_on_a_hung_registry(
    registry: Registry,
) -> None:
    """Stale-while-revalidate: lookups never wait; one refresh thread, however many calls."""
    cache = ServingPlanCache(registry.snapshot, ttl_seconds=0.0, wait_seconds=0.5)
    plan = cache.get(feature_service="svc")
    release = threading.Event()
    inner = cache._snapshot
    calls = []

    def hung() -> RegistrySnapshot:
        calls.append(1)
        release.wait(timeout=10)
        return inner()

    cache._snapshot = hung
    try:
        started = time.monotonic()
        for _ in range(200):
            assert cache.lookup(feature_service="svc") is plan
        assert time.monotonic() - started < 0.5  # never waited for the registry
        assert len(calls) == 1
        started = time.monotonic()
        refresh = cache.refresh()
        with pytest.raises(RegistryUnreachable, match=r"did not answer within 0\.5 s"):
            cache.wait(refresh)
        assert time.monotonic() - started < 1.5
    finally:
        release.set()
    refresh.result(timeout=10)
    assert len(calls) == 1
    assert cache.lookup(feature_service="svc") is not plan  # re-resolved by the refresh


def test_the_cache_is_bounded(registry: Registry) -> None:
    cache = ServingPlanCache(registry.snapshot, ttl_seconds=60.0, max_plans=2)
    cache.get(features=["stats@v1:spend"])
    cache.get(features=["stats@v1:country"])
    cache.get(feature_service="svc")
    assert len(cache) == 1


def test_resolution_errors_are_not_cached(registry: Registry) -> None:
    cache = ServingPlanCache(registry.snapshot, ttl_seconds=60.0)
    with pytest.raises(FeatureServiceNotFound, match="Did you mean 'svc'"):
        cache.get(feature_service="svd")
    assert len(cache) == 0
