"""Served values from the feature server's request log, as columns, for drift and audits.

The server writes one row per served entity row under
``<offline path>/request_log/layout=<name>/date=YYYY-MM-DD/*.parquet``, one typed schema
per layout (a service version or feature list: :mod:`parity.monitor.log_layout`,
documented in docs/serving.md). :func:`served_window` reads a window of it as a columnar
Parquet scan with Arrow (no JSON is parsed) and combines the layouts by feature name. A
value served as ``not_found`` or ``outside_max_age`` is null, as the model saw it.

Example:
    >>> window = served_window(Path("data/offline"), kinds={"amount": "numeric"},
    ...                        service="fraud_detection")  # doctest: +SKIP
    >>> window.column_names[-1]  # doctest: +SKIP
    'amount'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.monitor.drift import DriftReport, DriftThresholds, compare_to_reference
from parity.monitor.log_layout import find_layouts
from parity.monitor.profile import (
    FeatureKind,
    load_profile,
    load_reference_sample,
    save_profile,
)
from parity.storage import REQUEST_LOG_DIR
from parity.types import require_utc

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_THRESHOLDS = DriftThresholds()
META_COLUMNS = (
    "request_id", "served_at", "service", "service_version", "row_index", "sample_weight",
)  # fmt: skip


def request_log_root(offline_path: Path, path: str = REQUEST_LOG_DIR) -> Path:
    """Where the server writes the request log: ``server.request_log.path``, relative to
    the offline store path unless absolute (``StorageLayout.request_log_root`` for a
    repository's layout).

    Example:
        >>> request_log_root(Path("data/offline")).as_posix()
        'data/offline/request_log'
    """
    return offline_path / path  # an absolute ``path`` replaces the offline path


def quote(name: str) -> str:
    """A SQL identifier (DuckDB), quoted.

    Example:
        >>> quote('a"b')
        '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def window_filter(start: datetime | None, end: datetime | None) -> Any:
    """An Arrow dataset filter for ``served_at`` in ``[start, end)`` (None: everything).

    Example:
        >>> window_filter(None, None) is None
        True
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    ts = pa.timestamp("us", tz="UTC")
    condition = None
    for instant, what in ((start, "start"), (end, "end")):
        if instant is None:
            continue
        bound = pa.scalar(require_utc(instant, what=what), ts)
        term = ds.field("served_at") >= bound if what == "start" else ds.field("served_at") < bound
        condition = term if condition is None else condition & term
    return condition


def served_window(
    offline_path: Path,
    *,
    kinds: Mapping[str, FeatureKind],
    service: str | None = None,
    service_version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    log_root: Path | None = None,
    meta: Sequence[str] = META_COLUMNS,
) -> pa.Table:
    """Served rows in ``[start, end)`` with one column per feature of ``kinds`` that the log
    holds (numeric as float64, categorical as string), after the log's columns ``meta``
    (default :data:`META_COLUMNS`; drift needs only ``sample_weight``).

    Rows of several layouts (service versions, feature lists) are combined by feature
    name; a feature a layout does not serve is null there. Each layout's files are read
    by Arrow as one columnar scan (``served_at`` filtered with the row groups'
    statistics, days outside the window not opened).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = log_root if log_root is not None else request_log_root(offline_path)
    condition = window_filter(start, end)
    parts = []
    for stored in find_layouts(root):
        layout = stored.layout
        if service is not None and layout.service != service:
            continue
        if service_version is not None and layout.service_version != service_version:
            continue
        files = stored.files(start=start, end=end)
        if not files:
            continue
        read = ds.dataset(files, format="parquet").to_table(
            columns=[*meta, "features"], filter=condition
        )
        features = read.column("features")
        columns = {m: read.column(m) for m in meta}
        for name, kind in kinds.items():
            if name in layout.feature_names:
                columns[name] = _as_kind(pa.compute.struct_field(features, name), kind)
        parts.append(pa.table(columns))
    if not parts:  # nothing served in the window: empty columns, so every verdict says so
        return pa.table(
            {
                f: pa.array([], pa.float64() if k == "numeric" else pa.string())
                for f, k in kinds.items()
            }
        )
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts, promote_options="permissive")


def _as_kind(column: Any, kind: FeatureKind) -> Any:
    """Numeric as float64, categorical as text (a value that does not convert is null)."""
    import pyarrow as pa

    target = pa.float64() if kind == "numeric" else pa.string()
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(column), target)


def served_drift(
    offline_path: Path,
    dataset: str,
    *,
    service: str | None = None,
    service_version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    log_root: Path | None = None,
) -> DriftReport:
    """Drift of served values in ``[start, end)`` against a saved dataset's reference
    profile (created and saved beside the dataset if it does not exist yet); ``log_root``
    defaults to :func:`request_log_root`.

    Example:
        >>> served_drift(offline_path, "fraud_train", service="fraud")  # doctest: +SKIP
    """
    from parity.monitor.profile import PROFILE_FILE
    from parity.offline.saved_dataset import load_saved_dataset

    saved = load_saved_dataset(offline_path, dataset)
    if (saved.path / PROFILE_FILE).is_file():
        profile = load_profile(saved.path)
    else:
        profile = save_profile(saved, sample_rows=thresholds.sample_rows)
    window = served_window(
        offline_path,
        kinds={f.name: f.kind for f in profile.features},
        service=service,
        service_version=service_version,
        start=start,
        end=end,
        log_root=log_root,
        meta=("sample_weight",),
    )
    return compare_to_reference(
        profile,
        window,
        reference_sample=load_reference_sample(saved.path, profile),
        weights=sampled_weights(window),
        thresholds=thresholds,
    )


def sampled_weights(window: pa.Table) -> str | None:
    """``"sample_weight"`` when some row of the window was kept by sampling (weight > 1),
    else None: unit weights count exactly as unweighted rows, and faster.

    Example:
        >>> import pyarrow as pa
        >>> sampled_weights(pa.table({"sample_weight": [1.0, 4.0]}))
        'sample_weight'
    """
    import pyarrow.compute as pc

    if "sample_weight" not in window.column_names or window.num_rows == 0:
        return None
    heaviest = pc.max(window.column("sample_weight")).as_py()
    return "sample_weight" if heaviest is not None and heaviest != 1.0 else None
