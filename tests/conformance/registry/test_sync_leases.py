"""The sync scheduler's leases: one holder per view version, taken over only once expired."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from parity.registry import Registry

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_a_held_lease_refuses_another_holder_until_it_expires(registry: Registry) -> None:
    first = registry.claim_sync("p", "user_stats", 1, holder="a", now=NOW, lease=60)
    assert first is not None and first.next_due_at is None
    assert registry.claim_sync("p", "user_stats", 1, holder="b", now=NOW, lease=60) is None
    # Another view version is free; the holder may claim its own lease again.
    assert registry.claim_sync("p", "user_stats", 2, holder="b", now=NOW, lease=60) is not None
    assert registry.claim_sync("p", "user_stats", 1, holder="a", now=NOW, lease=60) is not None
    later = NOW + timedelta(seconds=61)
    taken = registry.claim_sync("p", "user_stats", 1, holder="b", now=later, lease=60)
    assert taken is not None and taken.holder == "a"  # the row as it was: a's expired lease
    # a lost it: neither its renewal nor its release writes anything.
    assert not registry.renew_sync("p", "user_stats", 1, holder="a", until=later)
    assert not registry.release_sync("p", replace(taken, next_due_at=later), holder="a")
    assert registry.release_sync("p", replace(taken, next_due_at=later), holder="b")
    (row,) = [s for s in registry.sync_schedules("p") if s.view_version == 1]
    assert row.holder is None and row.next_due_at == later


def test_a_renewed_lease_outlives_its_first_expiry(registry: Registry) -> None:
    assert registry.claim_sync("p", "v", 1, holder="a", now=NOW, lease=60) is not None
    assert registry.renew_sync("p", "v", 1, holder="a", until=NOW + timedelta(seconds=120))
    at = NOW + timedelta(seconds=90)
    assert registry.claim_sync("p", "v", 1, holder="b", now=at, lease=60) is None
