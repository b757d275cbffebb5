"""Reading the quarantine: rows that failed validation, with the reason, newest first.

Every writer (sync, append, backfill, push, stream) appends rejected rows to
``StorageLayout.quarantine_of(view)`` (``<offline path>/quarantine/<view>/``), a Delta
table with ``view``, ``view_version``, ``operation``, ``reason``, ``row`` (the row as
JSON) and ``quarantined_at`` (docs/operations.md). This module is the one reader of that layout.

Example:
    >>> read_quarantine(Path("/nonexistent"))
    []
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class QuarantinedRow:
    """One rejected row and why it was rejected.

    Example:
        >>> from datetime import UTC
        >>> QuarantinedRow("v", 1, "sync", "user_id is null", {"user_id": None},
        ...                datetime(2026, 1, 1, tzinfo=UTC)).ref
        'v@v1'
    """

    view: str
    view_version: int
    operation: str
    reason: str
    row: dict[str, Any]
    quarantined_at: datetime

    @property
    def ref(self) -> str:
        """``view@vN``."""
        return f"{self.view}@v{self.view_version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "view": self.view,
            "view_version": self.view_version,
            "ref": self.ref,
            "operation": self.operation,
            "reason": self.reason,
            "row": self.row,
            "quarantined_at": self.quarantined_at.isoformat(),
        }


def quarantined_views(root: Path) -> list[str]:
    """Names of the views with a quarantine table under ``root``
    (``StorageLayout.quarantine_root``), sorted.

    Example:
        >>> quarantined_views(Path("/nonexistent"))
        []
    """
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())


def read_quarantine(
    root: Path, *, view: str | None = None, limit: int = 200
) -> list[QuarantinedRow]:
    """The newest ``limit`` quarantined rows under ``root`` (``StorageLayout.quarantine_root``),
    of one view or of every view.

    Example:
        >>> read_quarantine(store.storage.quarantine_root, view="user_profile")  # doctest: +SKIP
        [QuarantinedRow(view='user_profile', view_version=1, ...)]
    """
    import pyarrow as pa
    from deltalake import DeltaTable

    names = quarantined_views(root)
    if view is not None:
        names = [n for n in names if n == view]
    tables = [DeltaTable(str(root / name)).to_pyarrow_table() for name in names]
    if not tables:
        return []
    table = pa.concat_tables(tables, promote_options="permissive")
    newest = table.sort_by([("quarantined_at", "descending")]).slice(0, limit)
    return [
        QuarantinedRow(
            view=r["view"],
            view_version=int(r["view_version"]),
            operation=r["operation"],
            reason=r["reason"],
            row=json.loads(r["row"]) if r["row"] else {},
            quarantined_at=r["quarantined_at"],
        )
        for r in newest.to_pylist()
    ]
