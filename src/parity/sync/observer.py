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
    ...     def run_failed(self, failure: SyncFailure, /) -> None:
    ...         seen.append((failure.ref, failure.outcome))
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

__all__ = ["NO_OBSERVER", "SyncBatch", "SyncFailure", "SyncObserver"]


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


@dataclass(frozen=True)
class SyncFailure:
    """A sync run a person must look at: ``blocked`` (the source does not match the
    definition), ``failed`` (an error stopped it) or ``validation_failed`` (published, but
    not fit to promote).

    Example:
        >>> from datetime import UTC, datetime
        >>> SyncFailure("stats", 2, "r1", "blocked", "column 'spend' is missing",
        ...             datetime(2026, 1, 1, tzinfo=UTC)).ref
        'stats@v2'
    """

    view: str
    version: int
    run_id: str
    outcome: str
    error: str
    at: datetime

    @property
    def ref(self) -> str:
        """``view@vN``."""
        return f"{self.view}@v{self.version}"


class SyncObserver(Protocol):
    """Told of every batch the sync controller publishes, and of every run that failed.

    Example:
        >>> class Quiet:
        ...     def batch_validated(self, batch: SyncBatch, /) -> None:
        ...         pass
        ...     def run_failed(self, failure: SyncFailure, /) -> None:
        ...         pass
        >>> observer: SyncObserver = Quiet()
    """

    def batch_validated(self, batch: SyncBatch, /) -> None:
        """A batch was validated and its valid rows published."""

    def run_failed(self, failure: SyncFailure, /) -> None:
        """A run was blocked, failed, or published a version that failed validation (after
        its record was written; an exception here is logged, never raised)."""


class _NoObserver:
    """Observes nothing: a controller built without a monitor."""

    def batch_validated(self, batch: SyncBatch, /) -> None:
        return None

    def run_failed(self, failure: SyncFailure, /) -> None:
        return None


#: The default observer: nothing watches the batches.
NO_OBSERVER: SyncObserver = _NoObserver()
