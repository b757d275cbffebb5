"""The monitor inside a feature server: blocked view versions and the ``/metrics`` gauges.

A :class:`ServingMonitor` runs one background thread per server process. Every
``block_refresh_seconds`` it reads the audits and unblocks stored since its last look
(:class:`parity.monitor.records.RecordsTail`: a directory listing plus the new files) and
recomputes the set of blocked versions; every ``refresh_seconds`` it also recomputes the
gauges: freshness of every live version (sync records plus one scan of each version's
online keys), the newest audit and the newest quality run of each version. The request
path only reads what the thread published:

- :meth:`check` (once per read, on the view versions of its plan): a truthiness test
  while nothing is blocked, a dict lookup per view version otherwise; raises
  :class:`ServingBlocked` (HTTP 503) for a blocked version;
- :meth:`render` (per scrape): the cached exposition text.

So the cost is bounded by the refresh intervals, not the request or scrape rate; with
many views, the freshness scan is what grows (one pass over the online keys of each
live version per ``refresh_seconds``, in the background).

Example:
    >>> monitor = ServingMonitor(store.project, registry=lambda: store.registry,  # doctest: +SKIP
    ...     online=lambda: store.online_store, root=store.storage.monitoring_root,
    ...     settings=store.config.monitoring.serving)
    >>> monitor.start()  # doctest: +SKIP
    >>> monitor.check(("user_stats@v1",))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parity.monitor.audit import AUDITS_TABLE, audits_schema
from parity.monitor.blocking import UNBLOCKS_TABLE, Block, BlockState, unblocks_schema
from parity.monitor.config import ServingSettings
from parity.monitor.freshness import check_freshness
from parity.monitor.gauges import (
    QualityOutcome,
    audit_gauges,
    blocked_gauges,
    freshness_gauges,
    quality_gauges,
    render_gauges,
)
from parity.monitor.quality import QUALITY_TABLE, quality_schema
from parity.monitor.records import RecordsTail
from parity.online.base import OnlineStore
from parity.registry import Registry

logger = logging.getLogger("parity.monitor")


class QualityState:
    """The newest quality run per view version, folded from stored check rows.

    Example:
        >>> QualityState().outcomes()
        []
    """

    def __init__(self) -> None:
        self._latest: dict[tuple[str, int], QualityOutcome] = {}

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Fold check rows (of :func:`parity.monitor.quality.quality_schema`) in."""
        for row in sorted(rows, key=lambda r: r["at"]):
            key = (row["view"], int(row["version"]))
            current = self._latest.get(key)
            if current is None or (row["at"] > current.at and row["run_id"] != current.run_id):
                current = QualityOutcome(key[0], key[1], row["run_id"], row["at"], 0, 0)
            elif row["run_id"] != current.run_id:
                continue  # an older run than the one kept
            failed = current.failed + (row["severity"] == "fail")
            warned = current.warned + (row["severity"] == "warn")
            self._latest[key] = QualityOutcome(
                key[0], key[1], current.run_id, current.at, failed, warned
            )

    def outcomes(self) -> list[QualityOutcome]:
        """The newest run of every version, in (view, version) order."""
        return [self._latest[k] for k in sorted(self._latest)]


class ServingMonitor:
    """Blocked versions and monitoring gauges of one server process (see module doc).

    ``root`` is where the monitoring tables live (``StorageLayout.monitoring_root``);
    ``registry`` and ``online`` give the registry and online store the freshness gauges
    read, opened on the refresh thread's first pass (not when the server is built).

    Example:
        >>> ServingMonitor.__name__
        'ServingMonitor'
    """

    def __init__(
        self,
        project: str,
        *,
        registry: Callable[[], Registry],
        online: Callable[[], OnlineStore],
        root: Path,
        settings: ServingSettings | None = None,
    ) -> None:
        self.project = project
        self.registry = registry
        self.online = online
        self.settings = ServingSettings() if settings is None else settings
        self._audits = RecordsTail(root, AUDITS_TABLE, audits_schema())
        self._unblocks = RecordsTail(root, UNBLOCKS_TABLE, unblocks_schema())
        self._quality_rows = RecordsTail(root, QUALITY_TABLE, quality_schema())
        self._blocks = BlockState()
        self._quality = QualityState()
        # Published by the refresh thread, read by the request path (replaced, never mutated).
        self._blocked: dict[str, Block] = {}
        self._text = ""
        self._refreshed_at: datetime | None = None
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the request path --------------------------------------------------------------

    def check(self, view_versions: Iterable[str]) -> None:
        """Raise :class:`ServingBlocked` if any of ``view_versions`` (``view@vN``) is blocked."""
        blocked = self._blocked
        if blocked:
            for ref in view_versions:
                block = blocked.get(ref)
                if block is not None:
                    raise block.error()

    def render(self) -> str:
        """The monitoring gauges as Prometheus text (as of the last refresh)."""
        return self._text

    def ready_details(self) -> dict[str, Any]:
        """What ``/ready`` reports: blocked versions and the monitor's last refresh."""
        refreshed = self._refreshed_at
        return {
            "blocked": {ref: b.to_dict() for ref, b in sorted(self._blocked.items())},
            "refreshed_at": None if refreshed is None else refreshed.isoformat(),
            "error": self._error,
        }

    # --- the refresh thread ------------------------------------------------------------

    def refresh_blocks(self) -> None:
        """Read new audits and unblocks; publish the blocked versions."""
        self._blocks.add_audits(self._audits.new_rows().to_pylist())
        self._blocks.add_unblocks(self._unblocks.new_rows().to_pylist())
        self._blocked = self._blocks.blocked()

    def refresh_gauges(self, *, now: datetime | None = None) -> None:
        """Recompute every gauge (freshness scans the online store) and publish the text."""
        now = datetime.now(UTC) if now is None else now
        self.refresh_blocks()
        self._quality.add(self._quality_rows.new_rows().to_pylist())
        audits = self._blocks.latest_audits()
        gauges = [
            *freshness_gauges(
                check_freshness(self.registry(), self.online(), self.project, now=now)
            ),
            *audit_gauges(audits[k] for k in sorted(audits)),
            *blocked_gauges(sorted(audits), self._blocked),
            *quality_gauges(self._quality.outcomes()),
        ]
        self._text = render_gauges(gauges)
        self._refreshed_at = now

    def start(self) -> None:
        """Read the blocks once (known before the first request), then refresh in a daemon
        thread, gauges first (their online scans never delay the server's start)."""
        self._guarded(self.refresh_blocks)
        self._thread = threading.Thread(target=self._run, name="parity-monitor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the refresh thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        next_gauges = time.monotonic()
        while True:
            if time.monotonic() >= next_gauges:
                next_gauges = time.monotonic() + self.settings.refresh_seconds
                self._guarded(self.refresh_gauges)
            else:
                self._guarded(self.refresh_blocks)
            if self._stop.wait(self.settings.block_refresh_seconds):
                return

    def _guarded(self, refresh: Any) -> None:
        # A failed refresh (online store down, a file being replaced) keeps the last
        # published state and says so in /ready; it never kills the thread.
        try:
            refresh()
            self._error = None
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            logger.warning("monitor refresh failed: %s", self._error)
