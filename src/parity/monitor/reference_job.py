"""Training datasets saved with their drift reference profile.

``FeatureStore.get_historical_features`` wraps the engine's job in a
:class:`ProfilingRetrievalJob`: everything is the engine's job (it delegates), except
that ``save(name)`` also writes ``profile.json`` and ``profile_sample.parquet`` beside
the dataset (:func:`parity.monitor.profile.save_profile`), so every saved training set
carries the reference that drift is later measured against. The offline engine knows
nothing of monitoring; the store wires the two.

A profile that cannot be computed does not lose the saved dataset: it is logged, and
``parity report drift`` computes it on first use as before.

Example:
    >>> job = ProfilingRetrievalJob(engine.get_historical_features(rows, specs))  # doctest: +SKIP
    >>> (job.save("churn_train").path / "profile.json").is_file()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from parity.monitor.profile import DEFAULT_SAMPLE_ROWS, save_profile
from parity.offline.base import OutputStep, RetrievalJob

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.offline.saved_dataset import SavedDataset

logger = logging.getLogger("parity.monitor")


class ProfilingRetrievalJob(RetrievalJob):
    """An engine's retrieval job whose ``save`` also saves the reference profile.

    Example:
        >>> ProfilingRetrievalJob.__mro__[1].__name__
        'RetrievalJob'
    """

    def __init__(self, job: RetrievalJob, *, sample_rows: int = DEFAULT_SAMPLE_ROWS) -> None:
        self.job = job
        self.sample_rows = sample_rows
        self.output_step = job.output_step  # applied by the wrapped job, shown here

    def with_output_step(self, step: OutputStep) -> RetrievalJob:
        """The wrapped job with ``step``, still profiled on save."""
        return ProfilingRetrievalJob(self.job.with_output_step(step), sample_rows=self.sample_rows)

    def to_batches(self) -> pa.RecordBatchReader:
        """The wrapped job's result."""
        return self.job.to_batches()

    def save(self, name: str) -> SavedDataset:
        """Save the dataset (the engine's ``save``), then its reference profile beside it."""
        saved = self.job.save(name)
        try:
            save_profile(saved, sample_rows=self.sample_rows)
        except Exception as exc:  # the dataset is saved; drift reports profile it later
            logger.warning(
                "Saved dataset %r has no reference profile yet (%s: %s); 'parity report "
                "drift --dataset %s' will compute it.", name, type(exc).__name__, exc, name,
            )  # fmt: skip
        return saved

    def __getattr__(self, name: str) -> Any:
        # Engine-specific members (specs, scans, entity_fingerprint, ...) of the wrapped job.
        return getattr(self.job, name)
