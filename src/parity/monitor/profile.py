"""Reference profiles: what a training dataset looked like, feature by feature.

A profile is saved beside its dataset as ``profile.json`` (per feature: decile bin edges
and the reference counts in those bins, or category frequencies; null rate; count, mean,
standard deviation, min, max) plus ``profile_sample.parquet``: a fixed random sample of
each numeric feature (at most ``sample_rows``) for the Kolmogorov-Smirnov test, which
needs values, not bins. Quantiles (NumPy's linear definition, as DuckDB's
``quantile_cont``), summary statistics and bin counts come from the dataset's Parquet
columns through Arrow and NumPy, and the bins are counted by the same code that counts a
serving window, so reference and current are binned identically.

Numeric dtypes (int, float) are profiled as numeric; ``string`` and ``bool`` as
categorical; other dtypes (lists, vectors, bytes, timestamps) are not profiled.

Example:
    >>> import pyarrow as pa
    >>> profile = profile_table(pa.table({"amount": [float(i) for i in range(11)]}))
    >>> profile.feature("amount").edges
    (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from parity.errors import DefinitionError, ObjectNotFound, did_you_mean
from parity.monitor.binning import (
    DECILES,
    categorical_counts,
    counts_of_values,
    numeric_counts,
    numeric_values,
    value_counts,
)
from parity.monitor.config import DEFAULT_SAMPLE_ROWS as DEFAULT_SAMPLE_ROWS

if TYPE_CHECKING:
    import pyarrow as pa

    from parity.offline.saved_dataset import SavedDataset

PROFILE_FILE = "profile.json"
SAMPLE_FILE = "profile_sample.parquet"
DEFAULT_MAX_CATEGORIES = 50

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureProfile:
    """The reference distribution of one feature.

    ``edges`` (numeric) or ``categories`` (categorical) define the bins; ``counts`` are
    the reference rows per bin, null bin last (see :mod:`parity.monitor.binning`).

    Example:
        >>> FeatureProfile("x", "numeric", "float64", 2, 0, (1.0,), (), (1, 1, 0),
        ...                1.5, 0.7, 1.0, 2.0).null_rate
        0.0
    """

    name: str
    kind: FeatureKind
    dtype: str
    count: int
    null_count: int
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    counts: tuple[int, ...]
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None

    @property
    def null_rate(self) -> float:
        """Share of reference rows where the feature is null (or NaN)."""
        return self.null_count / self.count if self.count else 0.0

    def bin_counts(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Count ``column`` into this profile's bins."""
        if self.kind == "numeric":
            return numeric_counts(column, self.edges)
        return categorical_counts(column, self.categories)


@dataclass(frozen=True)
class ReferenceProfile:
    """Profiles of every supported feature of one training dataset.

    Example:
        >>> ReferenceProfile("train", "2026-01-01T00:00:00+00:00", 0, ()).feature_names
        ()
    """

    dataset: str
    created_at: str
    row_count: int
    features: tuple[FeatureProfile, ...]
    sample_file: str | None = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Profiled feature names, in dataset column order."""
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> FeatureProfile:
        """The profile of one feature; a helpful error names close matches."""
        for f in self.features:
            if f.name == name:
                return f
        raise ObjectNotFound(
            f"Profile of {self.dataset!r} has no feature {name!r}."
            f"{did_you_mean(name, self.feature_names)} Profiled: {', '.join(self.feature_names)}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``profile.json``."""
        return {**asdict(self), "features": [asdict(f) for f in self.features]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Read the JSON form back."""
        features = tuple(
            FeatureProfile(
                **{
                    **f,
                    "edges": tuple(f["edges"]),
                    "categories": tuple(f["categories"]),
                    "counts": tuple(f["counts"]),
                }
            )
            for f in data["features"]
        )
        return cls(
            dataset=data["dataset"],
            created_at=data["created_at"],
            row_count=int(data["row_count"]),
            features=features,
            sample_file=data.get("sample_file"),
        )


def feature_kind(arrow_type: pa.DataType) -> FeatureKind | None:
    """How a column is profiled: numeric, categorical, or not at all (None).

    Example:
        >>> import pyarrow as pa
        >>> feature_kind(pa.int64()), feature_kind(pa.string()), feature_kind(pa.binary())
        ('numeric', 'categorical', None)
    """
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numeric"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "categorical"
    if pa.types.is_boolean(arrow_type):
        return "categorical"
    return None


def _numeric_profile(name: str, dtype: str, column: pa.ChunkedArray) -> FeatureProfile:
    values = numeric_values(column)
    rows = len(column)
    if len(values) == 0:
        counts = counts_of_values(values, (), rows=rows)
        return FeatureProfile(name, "numeric", dtype, rows, rows, (), (), _ints(counts))
    # NumPy's default (linear) quantile, the same definition as DuckDB's quantile_cont.
    edges = tuple(float(e) for e in np.unique(np.quantile(values, DECILES)))
    counts = counts_of_values(values, edges, rows=rows)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return FeatureProfile(
        name, "numeric", dtype, rows, rows - len(values), edges, (), _ints(counts),
        float(np.mean(values)), std, float(values.min()), float(values.max()),
    )  # fmt: skip


def _categorical_profile(
    name: str, dtype: str, column: pa.ChunkedArray, max_categories: int
) -> FeatureProfile:
    frequencies = value_counts(column)
    # Most frequent first; ties by name, so the same data always gives the same bins.
    kept = tuple(sorted(frequencies, key=lambda c: (-frequencies[c], c))[:max_categories])
    counts = categorical_counts(column, kept)
    rows = len(column)
    return FeatureProfile(
        name, "categorical", dtype, rows, int(counts[-1]), (), kept, _ints(counts)
    )


def _ints(counts: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) for c in counts)


def profile_table(
    data: pa.Table,
    *,
    dataset: str = "",
    features: Sequence[str] | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
) -> ReferenceProfile:
    """Profile the feature columns of an Arrow table (default: every supported column).

    Example:
        >>> import pyarrow as pa
        >>> p = profile_table(pa.table({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}))
        >>> p.feature("c").categories, p.feature("x").count
        (('a', 'b'), 3)
    """
    names = [
        n
        for n in (features if features is not None else data.column_names)
        if feature_kind(data.schema.field(n).type) is not None
    ]
    if features is not None:
        unsupported = sorted(set(features) - set(names))
        if unsupported:
            raise DefinitionError(
                f"Cannot profile {unsupported}: only numeric, string and bool features have "
                "reference distributions. Leave them out of features=."
            )
    profiles = []
    for name in names:
        column = data.column(name)
        dtype = str(data.schema.field(name).type)
        if feature_kind(data.schema.field(name).type) == "numeric":
            profiles.append(_numeric_profile(name, dtype, column))
        else:
            profiles.append(_categorical_profile(name, dtype, column, max_categories))
    return ReferenceProfile(
        dataset=dataset,
        created_at=datetime.now(UTC).isoformat(),
        row_count=data.num_rows,
        features=tuple(profiles),
    )


def reference_sample(
    data: pa.Table, profile: ReferenceProfile, *, rows: int = DEFAULT_SAMPLE_ROWS, seed: int = 0
) -> pa.Table:
    """A fixed random sample (without replacement) of the numeric features, for the KS test.

    Example:
        >>> import pyarrow as pa
        >>> t = pa.table({"x": [1.0, 2.0, 3.0]})
        >>> reference_sample(t, profile_table(t), rows=2).num_rows
        2
    """
    import pyarrow as pa

    numeric = [f.name for f in profile.features if f.kind == "numeric"]
    if data.num_rows <= rows:
        return data.select(numeric)
    picked = np.sort(np.random.default_rng(seed).choice(data.num_rows, rows, replace=False))
    return data.select(numeric).take(pa.array(picked))


def save_profile(
    dataset: SavedDataset, *, sample_rows: int = DEFAULT_SAMPLE_ROWS
) -> ReferenceProfile:
    """Profile a saved dataset and write ``profile.json`` and its sample beside it.

    Features are the dataset's columns minus its entity frame's columns (keys, timestamps,
    labels).

    Example:
        >>> save_profile(engine.get_saved_dataset("churn_train"))  # doctest: +SKIP
    """
    import pyarrow.parquet as pq

    from parity.offline.saved_dataset import DATA_FILE

    data = pq.read_table(dataset.path / DATA_FILE)
    entity_columns = set(pq.read_schema(dataset.path / "entities.parquet").names)
    features = [c for c in data.column_names if c not in entity_columns]
    features = [c for c in features if feature_kind(data.schema.field(c).type) is not None]
    profile = profile_table(data, dataset=dataset.name, features=features)
    pq.write_table(reference_sample(data, profile, rows=sample_rows), dataset.path / SAMPLE_FILE)
    profile = ReferenceProfile(
        profile.dataset, profile.created_at, profile.row_count, profile.features, SAMPLE_FILE
    )
    temporary = dataset.path / f".{PROFILE_FILE}.tmp"
    temporary.write_text(json.dumps(profile.to_dict(), indent=1))
    temporary.rename(dataset.path / PROFILE_FILE)
    return profile


def load_profile(dataset_path: Path) -> ReferenceProfile:
    """Read the profile saved beside a dataset.

    Example:
        >>> load_profile(Path("data/offline/datasets/churn_train"))  # doctest: +SKIP
    """
    file = dataset_path / PROFILE_FILE
    if not file.is_file():
        raise ObjectNotFound(
            f"No reference profile at {str(file)!r}. Create it with "
            f"'parity report drift --dataset {dataset_path.name}' or save_profile(dataset)."
        )
    return ReferenceProfile.from_dict(json.loads(file.read_text()))


def load_reference_sample(dataset_path: Path, profile: ReferenceProfile) -> pa.Table | None:
    """The numeric sample saved with a profile, if any."""
    import pyarrow.parquet as pq

    if profile.sample_file is None or not (dataset_path / profile.sample_file).is_file():
        return None
    return pq.read_table(dataset_path / profile.sample_file)
