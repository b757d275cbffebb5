"""The monitor inside a feature server: blocked view versions and the ``/metrics`` gauges.

A :class:`ServingMonitor` runs one background thread and one gauge worker process per
server process. Every ``block_refresh_seconds`` the thread reads the audits and unblocks
stored since its last look (:class:`parity.monitor.records.RecordsTail`: a directory
listing plus the new files), recomputes the set of blocked versions and renders the audit
and blocked gauges. Every ``refresh_seconds`` the worker
(:mod:`parity.monitor.gauge_worker`, nice 10) recomputes the store gauges: freshness of
every live version (sync records plus one scan of each version's online keys) and the
newest quality run of each version. That scan decodes every online key, which would hold
the interpreter lock while requests wait if it ran in the server. The request path only
reads what was published:

- :meth:`check` (once per read, on the view versions of its plan): a truthiness test
  while nothing is blocked, a dict lookup per view version otherwise; raises
  :class:`ServingBlocked` (HTTP 503) for a blocked version;
- :meth:`render` (per scrape): the cached texts (one ``stat`` of the worker's file, read
  again only when it changed).

So the cost is bounded by the refresh intervals, not the request or scrape rate; with
many views, the freshness scan is what grows, in the worker.

Example:
    >>> monitor = ServingMonitor(store, settings=store.config.monitoring.serving)  # doctest: +SKIP
    >>> monitor.start()  # doctest: +SKIP
    >>> monitor.check(("user_stats@v1",))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

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
from parity.monitor.records import RecordsTail, monitoring_root
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


class MonitoredStore(Protocol):
    """What the monitor needs of a store (a :class:`parity.FeatureStore` has it all)."""

    @property
    def registry(self) -> Registry:
        """The registry: live versions and their sync records."""

    @property
    def online_store(self) -> OnlineStore:
        """The online store, scanned for freshness (opened on first use)."""

    @property
    def project(self) -> str:
        """The project name."""

    @property
    def offline_path(self) -> Path:
        """Where the monitoring tables live (``<offline path>/monitoring``)."""


class ServingMonitor:
    """Blocked versions and monitoring gauges of one server process (see module doc).

    Example:
        >>> ServingMonitor.__name__
        'ServingMonitor'
    """

    def __init__(self, store: MonitoredStore, *, settings: ServingSettings | None = None) -> None:
        self.store = store
        self.settings = ServingSettings() if settings is None else settings
        root = monitoring_root(store.offline_path)
        self._audits = RecordsTail(root, AUDITS_TABLE, audits_schema())
        self._unblocks = RecordsTail(root, UNBLOCKS_TABLE, unblocks_schema())
        self._quality_rows = RecordsTail(root, QUALITY_TABLE, quality_schema())
        self._blocks = BlockState()
        self._quality = QualityState()
        # Published by the refresh thread, read by the request path (replaced, never mutated).
        self._blocked: dict[str, Block] = {}
        self._block_text = ""  # audit and blocked gauges (from the block state)
        self._store_text = ""  # freshness and quality gauges (the worker's, or in-thread)
        self._refreshed_at: datetime | None = None
        self._error: str | None = None
        self._worker_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        self._worker_dir: Path | None = None
        self._worker_seen: tuple[int, int] | None = None

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
        self._read_worker()
        return self._store_text + self._block_text

    def ready_details(self) -> dict[str, Any]:
        """What ``/ready`` reports: blocked versions and the monitor's last refresh."""
        self._read_worker()
        refreshed = self._refreshed_at
        return {
            "blocked": {ref: b.to_dict() for ref, b in sorted(self._blocked.items())},
            "refreshed_at": None if refreshed is None else refreshed.isoformat(),
            "error": self._error or self._worker_error,
        }

    # --- the refresh thread ------------------------------------------------------------

    def refresh_blocks(self) -> None:
        """Read new audits and unblocks; publish the blocked versions and their gauges."""
        self._blocks.add_audits(self._audits.new_rows().to_pylist())
        self._blocks.add_unblocks(self._unblocks.new_rows().to_pylist())
        blocked = self._blocks.blocked()
        self._blocked = blocked
        audits = self._blocks.latest_audits()
        self._block_text = render_gauges(
            [
                *audit_gauges(audits[k] for k in sorted(audits)),
                *blocked_gauges(sorted(audits), blocked),
            ]
        )

    def store_gauges(self, *, now: datetime | None = None) -> str:
        """The freshness (one scan of the online keys per live version) and quality gauges.

        What the gauge worker process computes; :meth:`refresh_gauges` does it in-process.
        """
        now = datetime.now(UTC) if now is None else now
        self._quality.add(self._quality_rows.new_rows().to_pylist())
        freshness = check_freshness(
            self.store.registry, self.store.online_store, self.store.project, now=now
        )
        return render_gauges(
            [*freshness_gauges(freshness), *quality_gauges(self._quality.outcomes())]
        )

    def refresh_gauges(self, *, now: datetime | None = None) -> None:
        """Recompute every gauge in this process and publish the text."""
        now = datetime.now(UTC) if now is None else now
        self.refresh_blocks()
        self._store_text = self.store_gauges(now=now)
        self._refreshed_at = now

    def start(self) -> None:
        """Read the blocks once (known before the first request), start the gauge worker
        process, then refresh the blocks in a daemon thread.

        A store that cannot be reopened in another process (no ``repo_path`` and
        ``config``) has its gauges refreshed by the thread instead.
        """
        self._guarded(self.refresh_blocks)
        self._worker = self._spawn_worker()
        self._thread = threading.Thread(target=self._run, name="parity-monitor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the refresh thread and the gauge worker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        worker, self._worker = self._worker, None
        if worker is not None:
            if worker.stdin is not None:
                with contextlib.suppress(OSError):
                    worker.stdin.close()
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if self._worker_dir is not None:
            shutil.rmtree(self._worker_dir, ignore_errors=True)
            self._worker_dir = None

    def _spawn_worker(self) -> subprocess.Popen[bytes] | None:
        import orjson  # the server's stack, not ``import parity``'s

        repo_path = getattr(self.store, "repo_path", None)
        config: Any = getattr(self.store, "config", None)
        if repo_path is None or not hasattr(config, "model_dump"):
            return None
        self._worker_dir = Path(tempfile.mkdtemp(prefix="parity-gauges-"))
        spec = {
            "repo_path": str(repo_path),
            "config": config.model_dump(mode="json"),
            "settings": self.settings.model_dump(mode="json"),
            "out": str(self._worker_dir / "gauges.json"),
            "parent": os.getpid(),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "parity.monitor.gauge_worker"],
            stdin=subprocess.PIPE,
            # Its own session: Ctrl-C reaches the server, which then closes the pipe.
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(orjson.dumps(spec) + b"\n")
        process.stdin.flush()
        return process

    def _read_worker(self) -> None:
        # Called per scrape and per /ready: one stat, and a read when the file changed.
        if self._worker_dir is None:
            return
        from parity.monitor.gauge_worker import read_published

        out = self._worker_dir / "gauges.json"
        try:
            stat = out.stat()
            seen = (stat.st_mtime_ns, stat.st_size)
            if seen == self._worker_seen:
                return
            published = read_published(out)
        except (OSError, ValueError):
            return  # nothing published yet, or replaced under us: the next read sees it
        self._worker_seen = seen
        self._store_text = published["text"]
        self._worker_error = published["error"]
        if published["refreshed_at"] is not None:
            self._refreshed_at = datetime.fromisoformat(published["refreshed_at"])

    def _run(self) -> None:
        next_gauges = time.monotonic()
        while True:
            if self._worker is None and time.monotonic() >= next_gauges:
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
