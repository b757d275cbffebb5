"""The store gauges of a feature server, computed in a process of their own.

Freshness scans every live version's online keys (one pass per ``refresh_seconds``):
seconds of decoding on a large store. In a thread of the server that work would hold the
interpreter lock while requests wait, which shows in the served p99. So
:class:`~parity.monitor.serving.ServingMonitor` starts this worker as a child process at
nice 10: it opens the same store (the server's resolved configuration, sent on stdin),
computes the freshness and quality gauges every ``refresh_seconds`` and replaces one
JSON file (``{"text", "refreshed_at", "error"}``) atomically; the server reads the file
when a scrape finds it changed. The worker exits when its parent is gone or its stdin
is closed.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "gauges.json"
    >>> publish(out, text="x 1\\n", refreshed_at=None, error=None)
    >>> read_published(out)["text"]
    'x 1\\n'
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

_NICE = 10


def publish(out: Path, *, text: str, refreshed_at: datetime | None, error: str | None) -> None:
    """Replace ``out`` with one refresh's result (write a sibling, then rename)."""
    body = {
        "text": text,
        "refreshed_at": None if refreshed_at is None else refreshed_at.isoformat(),
        "error": error,
    }
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(body))
    os.replace(tmp, out)


def read_published(out: Path) -> dict[str, Any]:
    """What the worker last published (raises ``OSError`` while there is nothing yet)."""
    data: dict[str, Any] = orjson.loads(out.read_bytes())
    return data


def main() -> int:
    """Entry point: a JSON spec on stdin (``repo_path``, ``config``, ``out``, ``parent``)."""
    spec = orjson.loads(sys.stdin.buffer.readline())
    stop = threading.Event()

    def watch_stdin() -> None:
        # The server closes our stdin when it stops (or dies): that is the signal to go.
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    with contextlib.suppress(OSError):  # not allowed here: run at the same priority
        os.nice(_NICE)
    from parity.config import RepoConfig
    from parity.monitor.config import ServingSettings
    from parity.monitor.serving import ServingMonitor
    from parity.store import FeatureStore

    parent = int(spec["parent"])
    out = Path(spec["out"])
    store = FeatureStore(spec["repo_path"], config=RepoConfig.model_validate(spec["config"]))
    settings = ServingSettings.model_validate(spec["settings"])
    monitor = ServingMonitor(store, settings=settings)
    try:
        while not stop.is_set() and os.getppid() == parent:
            now = datetime.now(UTC)
            try:
                text = monitor.store_gauges(now=now)
                publish(out, text=text, refreshed_at=now, error=None)
            except Exception as exc:  # the server shows it in /ready and keeps the last text
                try:
                    previous = read_published(out)["text"]
                except OSError:
                    previous = ""
                publish(out, text=previous, refreshed_at=None, error=f"{type(exc).__name__}: {exc}")
            stop.wait(settings.refresh_seconds)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
