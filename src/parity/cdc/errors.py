"""The errors of change data capture: setup refused before anything starts, or a capture
interrupted (restart it: it resumes from its checkpoint).

Example:
    >>> issubclass(TableWithoutPrimaryKey, CaptureSetupError)
    True
"""

from __future__ import annotations

from parity.errors import ParityError, Terminal, Transient


class CaptureSetupError(ParityError, Terminal):
    """The database is not ready for change data capture; nothing was started."""


class LogicalReplicationOff(CaptureSetupError):
    """PostgreSQL's ``wal_level`` is not ``logical``."""


class ReplicationPrivilegeMissing(CaptureSetupError, PermissionError):
    """The capture's database role may not replicate (or read the binlog)."""


class TableWithoutPrimaryKey(CaptureSetupError, ValueError):
    """A captured table has no primary key: updates and deletes could not name their row."""


class SlotOwnedElsewhere(CaptureSetupError):
    """The replication slot (or publication) exists but parity did not create it for this
    source."""


class BinlogNotRowFormat(CaptureSetupError):
    """MySQL/MariaDB writes its binlog in statement or mixed format, or not at all."""


class CaptureInterrupted(ParityError, Transient, ConnectionError):
    """The database or the transport went away while capturing; restart from the checkpoint."""
