"""Which view versions the ``block`` policy keeps from serving, and how they come back.

A view version is blocked when its newest stored audit found it ``inconsistent`` under the
``block`` policy and no operator unblocked it since (``parity unblock VIEW@vN``, stored in
``<offline path>/monitoring/unblocks``). A later audit that passes unblocks it too: only
the newest audit counts. :class:`BlockState` folds audits and unblocks, in any order and
batch by batch, into the set of blocked versions, so a server follows the two tables
incrementally (:class:`parity.monitor.records.RecordsTail`) instead of re-reading them.

A feature server answers a read that needs a blocked version with ``503`` and a
:class:`ServingBlocked` error naming the version, the audit and the way out.

Example:
    >>> from datetime import datetime, timezone
    >>> t1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> state = BlockState()
    >>> state.add_audits([{"view": "user_stats", "version": 1, "at": t1, "status":
    ...     "inconsistent", "policy": "block", "mismatch_rate": 0.2, "max_mismatch_rate": 0.0,
    ...     "audit_id": "a1"}])
    >>> sorted(state.blocked())
    ['user_stats@v1']
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from parity.errors import ServingBlocked
from parity.monitor.audit import AUDITS_TABLE, audits_schema
from parity.monitor.records import RecordsTail, append_records, read_records

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.online.base import ViewTable

UNBLOCKS_TABLE = "unblocks"


@dataclass(frozen=True)
class Block:
    """Why one view version is blocked: the audit that blocked it.

    Example:
        >>> Block("user_stats", 1, "a1", datetime(2026, 1, 1, tzinfo=UTC), 0.2, 0.0).ref
        'user_stats@v1'
    """

    view: str
    version: int
    audit_id: str
    at: datetime
    mismatch_rate: float
    max_mismatch_rate: float

    @property
    def ref(self) -> str:
        """``view@vN``."""
        return f"{self.view}@v{self.version}"

    def error(self) -> ServingBlocked:
        """The error a server answers a read of this version with."""
        return ServingBlocked(
            f"Feature view {self.ref} is blocked from serving: audit {self.audit_id} at "
            f"{self.at.isoformat()} found {self.mismatch_rate:.2%} of sampled keys differing "
            f"from the offline values (max {self.max_mismatch_rate:.2%}; policy 'block'). "
            f"Fix the data and run 'parity audit {self.ref}' (a passing audit unblocks it), "
            f"or 'parity unblock {self.ref}'."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``/ready`` details)."""
        return {
            "audit_id": self.audit_id,
            "at": self.at.isoformat(),
            "mismatch_rate": self.mismatch_rate,
            "max_mismatch_rate": self.max_mismatch_rate,
        }


class BlockState:
    """Newest audit and newest unblock per view version, folded incrementally.

    Example:
        >>> BlockState().blocked()
        {}
    """

    def __init__(self) -> None:
        self._audits: dict[tuple[str, int], Mapping[str, Any]] = {}
        self._unblocked: dict[tuple[str, int], datetime] = {}

    def add_audits(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Fold audit rows (of :func:`parity.monitor.audit.audits_schema`) in."""
        for row in rows:
            key = (row["view"], int(row["version"]))
            current = self._audits.get(key)
            if current is None or row["at"] > current["at"]:
                self._audits[key] = row

    def add_unblocks(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Fold unblock rows (of :func:`unblocks_schema`) in."""
        for row in rows:
            key = (row["view"], int(row["version"]))
            current = self._unblocked.get(key)
            if current is None or row["at"] > current:
                self._unblocked[key] = row["at"]

    def blocked(self) -> dict[str, Block]:
        """Every blocked version, by ``view@vN``."""
        out = {}
        for (view, version), audit in self._audits.items():
            if audit["status"] != "inconsistent" or audit["policy"] != "block":
                continue
            unblocked = self._unblocked.get((view, version))
            if unblocked is not None and unblocked >= audit["at"]:
                continue
            block = Block(
                view, version, audit["audit_id"], audit["at"],
                float(audit["mismatch_rate"]), float(audit["max_mismatch_rate"]),
            )  # fmt: skip
            out[block.ref] = block
        return out

    def latest_audits(self) -> dict[tuple[str, int], Mapping[str, Any]]:
        """The newest audit row of every audited view version."""
        return dict(self._audits)


def unblocks_schema() -> pa.Schema:
    """The Arrow schema of the stored unblocks table.

    Example:
        >>> unblocks_schema().names
        ['at', 'view', 'version', 'actor', 'message']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("at", pa.timestamp("us", tz="UTC")),
            ("view", pa.string()),
            ("version", pa.int32()),
            ("actor", pa.string()),
            ("message", pa.string()),
        ]
    )


def store_unblock(
    root: Path,
    view: str,
    version: int,
    *,
    message: str = "",
    actor: str | None = None,
    at: datetime | None = None,
) -> None:
    """Record that an operator lets ``view@vN`` serve again despite its last audit.

    Example:
        >>> store_unblock(root, "user_stats", 1, message="values checked by hand")  # doctest: +SKIP
    """
    import pyarrow as pa

    row = {
        "at": datetime.now(UTC) if at is None else at,
        "view": view,
        "version": version,
        "actor": actor or getpass.getuser(),
        "message": message,
    }
    append_records(root, UNBLOCKS_TABLE, pa.Table.from_pylist([row], schema=unblocks_schema()))


def blocked_versions(root: Path) -> dict[str, Block]:
    """Every blocked view version of a store, read from the stored tables (one-off).

    Example:
        >>> blocked_versions(Path("/nonexistent"))
        {}
    """
    state = BlockState()
    state.add_audits(read_records(root, AUDITS_TABLE, audits_schema()).to_pylist())
    state.add_unblocks(read_records(root, UNBLOCKS_TABLE, unblocks_schema()).to_pylist())
    return state.blocked()


def serving_blocked(root: Path, view: str, version: int) -> bool:
    """True when the newest audit found the version inconsistent under the ``block`` policy
    and no operator unblocked it since (see the module doc).

    Reads the stored tables: a server follows them with ``ServingMonitor`` instead.

    Example:
        >>> serving_blocked(Path("/nonexistent"), "user_stats", 1)
        False
    """
    return f"{view}@v{version}" in blocked_versions(root)


class ReadsTable(Protocol):
    """One view version a read touches (a serving plan's ``ViewRead``)."""

    @property
    def table(self) -> ViewTable:
        """The view version's online table."""


class BlockedVersions:
    """The blocked versions of a store for in-process reads, refreshed at most every
    ``refresh_seconds`` on the reading thread (new audit and unblock files only: about
    0.2 ms), so ``FeatureStore.get_online_features`` honours the block policy as the
    feature server does.

    Example:
        >>> BlockedVersions(Path("/nonexistent")).check([])
    """

    def __init__(self, root: Path, *, refresh_seconds: float = 5.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._audits = RecordsTail(root, AUDITS_TABLE, audits_schema())
        self._unblocks = RecordsTail(root, UNBLOCKS_TABLE, unblocks_schema())
        self._state = BlockState()
        self._blocked: dict[str, Block] = {}
        self._next = 0.0
        self._lock = threading.Lock()

    def check(self, reads: Iterable[ReadsTable]) -> None:
        """Raise :class:`ServingBlocked` if any of the view versions read is blocked."""
        if time.monotonic() >= self._next and self._lock.acquire(blocking=False):
            try:  # one thread refreshes; the others use the state it last published
                self._state.add_audits(self._audits.new_rows().to_pylist())
                self._state.add_unblocks(self._unblocks.new_rows().to_pylist())
                self._blocked = self._state.blocked()
                self._next = time.monotonic() + self.refresh_seconds
            finally:
                self._lock.release()
        blocked = self._blocked
        if blocked:
            for read in reads:
                block = blocked.get(f"{read.table.view}@v{read.table.version}")
                if block is not None:
                    raise block.error()
