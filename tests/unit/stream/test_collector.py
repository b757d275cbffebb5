"""The processor's collector policy: start-up heap frozen, no automatic full collection,
one on schedule, and everything as it was afterwards."""

from __future__ import annotations

import gc

from parity.stream.collector import quiet_collector


def test_quiet_collector_freezes_the_heap_and_turns_automatic_full_collections_off() -> None:
    before = gc.get_threshold()
    with quiet_collector(600.0):
        assert gc.get_freeze_count() > 0
        threshold = gc.get_threshold()
        assert threshold[:2] == before[:2] and threshold[2] >= 1 << 30
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_scheduled_full_collection_runs_when_due_and_only_then() -> None:
    with quiet_collector(3600.0) as collector:
        full = gc.get_stats()[2]["collections"]
        collector.tick()
        assert collector.full_collections == 0 and gc.get_stats()[2]["collections"] == full
    with quiet_collector(1e-9) as collector:
        full = gc.get_stats()[2]["collections"]
        collector.tick()
        assert collector.full_collections == 1
        assert gc.get_stats()[2]["collections"] == full + 1
