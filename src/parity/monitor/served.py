"""Served values from the feature server's request log, as columns, for drift and audits.

The server writes one row per served entity row under
``<offline path>/request_log/date=YYYY-MM-DD/*.parquet`` (schema:
:func:`parity.serve.request_log.request_log_schema`, documented in docs/serving.md);
``values`` is a JSON array in ``feature_names`` order. :func:`served_window` turns a
window of it into one typed column per feature with DuckDB (each JSON array is parsed
once, in C++, into a list of JSON values cast per feature). A value served as
``not_found`` or ``outside_max_age`` is null, as the model saw it.

Example:
    >>> window = served_window(Path("data/offline"), kinds={"amount": "numeric"},
    ...                        service="fraud_detection")  # doctest: +SKIP
    >>> window.column_names[-1]  # doctest: +SKIP
    'amount'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import ObjectNotFound
from parity.monitor.drift import DriftReport, DriftThresholds, compare_to_reference
from parity.monitor.profile import (
    FeatureKind,
    load_profile,
    load_reference_sample,
    save_profile,
)

if TYPE_CHECKING:
    import pyarrow as pa

REQUEST_LOG_DIR = "request_log"
DEFAULT_THRESHOLDS = DriftThresholds()
_META = "request_id, served_at, service, service_version, row_index, entity_key, sample_weight"


def request_log_root(offline_path: Path) -> Path:
    """Where the server writes the request log (its default ``request_log.path``).

    Example:
        >>> request_log_root(Path("data/offline")).as_posix()
        'data/offline/request_log'
    """
    return offline_path / REQUEST_LOG_DIR


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def served_window(
    offline_path: Path,
    *,
    kinds: Mapping[str, FeatureKind],
    service: str | None = None,
    service_version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    log_root: Path | None = None,
) -> pa.Table:
    """Served rows in ``[start, end)`` with one column per feature of ``kinds`` that the log
    holds (numeric as float64, categorical as string), plus the log's identifying columns.

    Rows of several layouts (feature lists) are combined by feature name; a feature a
    layout does not serve is null there.
    """
    import duckdb
    import pyarrow as pa

    root = log_root if log_root is not None else request_log_root(offline_path)
    if not any(root.glob("**/*.parquet")):
        raise ObjectNotFound(
            f"No request log under {str(root)!r}. The feature server writes it "
            "('parity serve', request_log.enabled: true); or pass a frame of served values."
        )
    where = ["TRUE"]
    params: dict[str, Any] = {"files": str(root / "**" / "*.parquet")}
    if service is not None:
        where.append("service = $service")
        params["service"] = service
    if service_version is not None:
        where.append("service_version = $service_version")
        params["service_version"] = service_version
    if start is not None:
        where.append("served_at >= $start")
        params["start"] = start
    if end is not None:
        where.append("served_at < $end")
        params["end"] = end
    source = (
        f"(SELECT * FROM read_parquet($files, hive_partitioning = true, union_by_name = true) "
        f"WHERE {' AND '.join(where)})"
    )
    with duckdb.connect() as con:
        layouts = con.sql(f"SELECT DISTINCT feature_names FROM {source}", params=params).fetchall()
        parts = []
        for (names,) in layouts:
            columns = []
            for feature, kind in kinds.items():
                if feature not in names:
                    continue
                item = f"v[{names.index(feature) + 1}]"
                value = f"TRY_CAST({item} AS DOUBLE)" if kind == "numeric" else f"{item} ->> '$'"
                columns.append(f"{value} AS {_quote(feature)}")
            layout = "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"
            # One layout (the usual case): no per-row comparison of the feature list.
            only = "" if len(layouts) == 1 else f"WHERE feature_names = {layout}"
            # Parse each JSON array once into a list of JSON values, then cast per feature.
            parts.append(
                f"SELECT {_META}{''.join(', ' + c for c in columns)} FROM "
                f"(SELECT *, json_transform(values, '[\"JSON\"]') AS v FROM {source} {only})"
            )
        if not parts:  # nothing served in the window: empty columns, so every verdict says so
            return pa.table(
                {
                    f: pa.array([], pa.float64() if k == "numeric" else pa.string())
                    for f, k in kinds.items()
                }
            )
        query = " UNION ALL BY NAME ".join(parts)
        return con.sql(query, params=params).to_arrow_table()


def served_drift(
    offline_path: Path,
    dataset: str,
    *,
    service: str | None = None,
    service_version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> DriftReport:
    """Drift of served values in ``[start, end)`` against a saved dataset's reference
    profile (created and saved beside the dataset if it does not exist yet).

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
    )
    return compare_to_reference(
        profile,
        window,
        reference_sample=load_reference_sample(saved.path, profile),
        weights="sample_weight" if "sample_weight" in window.column_names else None,
        thresholds=thresholds,
    )
