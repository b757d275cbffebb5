"""Thin wrappers around a real online store that decide *when* things happen, never *what*.

Every read and write goes to the real backend. A wrapper only runs a hook at a chosen
moment (before the first write to one view, around a read of one view): the hook makes the
real backend fail (stop a private redis-server, lock the SQLite file), blocks until the
test releases it, or kills nothing at all and just records. Importable from a subprocess
(the kill -9 test) by putting this directory on ``sys.path``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from parity.online.base import (
    OnlineRow,
    OnlineStore,
    ReadRequest,
    ValueSwap,
    ViewTable,
    WriteResult,
)


class Delegating(OnlineStore):
    """The real store, unchanged; subclasses add a hook."""

    def __init__(self, inner: OnlineStore) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities  # type: ignore[misc]

    def write(self, table: ViewTable, rows: Any, /) -> WriteResult:
        return self.inner.write(table, rows)

    def read(self, requests: Sequence[ReadRequest], /) -> list[list[OnlineRow | None]]:
        return self.inner.read(requests)

    def swap(self, table: ViewTable, changes: Sequence[ValueSwap], /) -> int:
        return self.inner.swap(table, changes)

    def delete_table(self, table: ViewTable, /) -> int:
        return self.inner.delete_table(table)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FaultBeforeFirstWrite(Delegating):
    """Runs ``fault()`` just before the first write to ``view``; ``after()`` once it failed."""

    def __init__(
        self,
        inner: OnlineStore,
        view: str,
        fault: Callable[[], None],
        after: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(inner)
        self.view = view
        self.fault = fault
        self.after = after
        self.fired = False

    def write(self, table: ViewTable, rows: Any, /) -> WriteResult:
        if table.view != self.view or self.fired:
            return self.inner.write(table, rows)
        self.fired = True
        self.fault()
        try:
            return self.inner.write(table, rows)
        finally:
            self.after()


class RecordingWrites(Delegating):
    """Remembers the view of every write that reached the real store."""

    def __init__(self, inner: OnlineStore) -> None:
        super().__init__(inner)
        self.written: list[str] = []

    def write(self, table: ViewTable, rows: Any, /) -> WriteResult:
        self.written.append(table.view)
        return self.inner.write(table, rows)


class HeldReads(Delegating):
    """Reads of ``view`` wait until ``release`` is set; every other read goes straight through."""

    def __init__(self, inner: OnlineStore, view: str) -> None:
        super().__init__(inner)
        self.view = view
        self.release = threading.Event()
        self.held = threading.Event()

    def read(self, requests: Sequence[ReadRequest], /) -> list[list[OnlineRow | None]]:
        if any(r.table.view == self.view for r in requests):
            self.held.set()
            self.release.wait(timeout=60)
        return self.inner.read(requests)


class HangBeforeFirstWrite(Delegating):
    """Prints a marker and blocks forever before the first write to ``view`` (to be killed)."""

    def __init__(self, inner: OnlineStore, view: str, marker: str) -> None:
        super().__init__(inner)
        self.view = view
        self.marker = marker

    def write(self, table: ViewTable, rows: Any, /) -> WriteResult:
        if table.view == self.view:
            print(self.marker, flush=True)
            threading.Event().wait()
        return self.inner.write(table, rows)
