"""What a write into a parity-managed Delta table takes and what it reports.

The offline engine's interface (:mod:`parity.offline.base`) names these types and the
Delta writer (:mod:`parity.offline.delta_writes`) produces them; they live here so that
neither imports the other.

Example:
    >>> WriteReport(operation="append", table_path="/t", table_version=2,
    ...             rows_written=10, rows_quarantined=1).ok
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

__all__ = ["RowsInput", "WriteReport"]

RowsInput = Union["pd.DataFrame", "pa.Table", "pl.DataFrame"]


@dataclass(frozen=True)
class WriteReport:
    """What one write did.

    Example:
        >>> WriteReport(operation="append", table_path="/t", table_version=2,
        ...             rows_written=10, rows_quarantined=0).ok
        True
    """

    operation: str
    table_path: str
    table_version: int | None
    rows_written: int
    rows_quarantined: int
    quarantine_path: str | None = None

    @property
    def ok(self) -> bool:
        """True when no row was quarantined."""
        return self.rows_quarantined == 0
