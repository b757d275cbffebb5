"""What the sync controller tells the layers above it: each validated batch.

Sync sits below the monitor: the monitor measures the quality of what sync publishes, and
its inconsistency policy may ask sync to re-publish. The monitor therefore imports sync,
never the other way round; sync emits a :class:`SyncBatch` to a :class:`SyncObserver` it
is given, and the facade (:class:`parity.FeatureStore`) wires the monitor's observer
(:class:`parity.monitor.observer.QualityMonitor`) into the controller.

An observer runs after the batch is published and before the version is validated; an
exception it raises fails the run like any other step's (the run is recorded ``failed``).

Example:
    >>> seen = []
    >>> class Recorder:
    ...     def batch_validated(self, batch: SyncBatch, /) -> None:
    ...         seen.append((batch.view.name, batch.version, batch.source))
    >>> observer: SyncObserver = Recorder()
    >>> NO_OBSERVER.batch_validated  # the controller's default  # doctest: +ELLIPSIS
    <bound method ...>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.definitions import FeatureView
    from parity.sync.validate import ValidationResult

__all__ = ["NO_OBSERVER", "SyncBatch", "SyncObserver"]


@dataclass(frozen=True)
class SyncBatch:
    """One batch a sync run read, validated and published.

    ``rows`` is None when nothing was read; ``validation`` splits the rows into valid
    and rejected (with reasons); ``at`` is the run's clock.

    Example:
        >>> from datetime import UTC, datetime
        >>> from parity import Entity, FeatureView, Field, Float64, Int64, ParquetSource
        >>> user = Entity("user", join_keys=[Field("user_id", Int64)])
        >>> view = FeatureView("stats", entities=[user], schema=[Field("spend", Float64)],
        ...                    source=ParquetSource("s.parquet", timestamp_field="ts"))
        >>> SyncBatch(view, 1, rows=None, validation=None,
        ...           at=datetime(2026, 1, 1, tzinfo=UTC)).source
        'sync'
    """

    view: FeatureView
    version: int
    rows: pa.Table | None
    validation: ValidationResult | None
    at: datetime
    source: str = "sync"


class SyncObserver(Protocol):
    """Told of every batch the sync controller publishes.

    Example:
        >>> class Quiet:
        ...     def batch_validated(self, batch: SyncBatch, /) -> None:
        ...         pass
        >>> observer: SyncObserver = Quiet()
    """

    def batch_validated(self, batch: SyncBatch, /) -> None:
        """A batch was validated and its valid rows published."""


class _NoObserver:
    """Observes nothing: a controller built without a monitor."""

    def batch_validated(self, batch: SyncBatch, /) -> None:
        return None


#: The default observer: nothing watches the batches.
NO_OBSERVER: SyncObserver = _NoObserver()
