"""Change data capture: committed row changes of operational tables as stream events.

A capture reads one table's changes from the database log (PostgreSQL logical
replication in :mod:`parity.cdc.postgres`, the MySQL/MariaDB row binlog in
:mod:`parity.cdc.mysql`) and publishes them, in the stream processor's message format
(:mod:`parity.cdc.base`), onto the transports the processors already consume. Database
drivers are imported only when a capture is built.

Example:
    >>> from parity.cdc import CaptureSettings
    >>> CaptureSettings(dsn="postgresql://127.0.0.1/shop", stream="orders").id_field
    'event_id'
"""

from __future__ import annotations

from parity.cdc.config import CaptureSettings
from parity.cdc.errors import (
    BinlogNotRowFormat,
    CaptureInterrupted,
    CaptureSetupError,
    LogicalReplicationOff,
    ReplicationPrivilegeMissing,
    SlotOwnedElsewhere,
    TableWithoutPrimaryKey,
)
from parity.cdc.metrics import CaptureMetrics

__all__ = [
    "BinlogNotRowFormat",
    "CaptureInterrupted",
    "CaptureMetrics",
    "CaptureSettings",
    "CaptureSetupError",
    "LogicalReplicationOff",
    "ReplicationPrivilegeMissing",
    "SlotOwnedElsewhere",
    "TableWithoutPrimaryKey",
]
