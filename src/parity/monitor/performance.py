"""Model performance once labels arrive: predictions joined to late labels by request id.

Predictions are logged by whoever calls the model (:func:`log_predictions`, one row per
served entity row: ``request_id``, ``row_index``, ``model``, ``predicted_at``, ``score``)
and by the feature server's ``/predict`` (its request log rows carry a ``prediction``:
:func:`logged_predictions`); labels arrive later (:func:`ingest_labels`: ``request_id``,
optional ``row_index``, ``label``). Labels and logged predictions are tables under
``<offline path>/monitoring/``; pass ``request_log=`` to include the server's. :func:`performance`
joins them in DuckDB (the newest label of a row wins), cuts the predictions into windows
of ``predicted_at`` and computes per window, with scikit-learn: precision, recall, F1
(``score >= threshold`` is positive), ROC AUC (when both classes are present), label
coverage, and the drop of each metric against the model's validation metrics.

Example:
    >>> report = performance(root, model="fraud@3", window=timedelta(days=1),
    ...                      validation={"f1": 0.81, "roc_auc": 0.93})  # doctest: +SKIP
    >>> report.windows[-1].drops["f1"]  # doctest: +SKIP
    0.07
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from parity.errors import ObjectNotFound, SchemaMismatch
from parity.monitor.alerts import Observation
from parity.monitor.records import append_records, read_records

if TYPE_CHECKING:
    import pyarrow as pa

PREDICTIONS_TABLE = "predictions"
LABELS_TABLE = "labels"
METRICS = ("precision", "recall", "f1", "roc_auc")
"""The monitor's metrics, named as the model registry names them (one vocabulary)."""

# Older names of the same metrics, accepted where metrics are read (validation values of
# models registered before the vocabulary was one).
METRIC_ALIASES = {"auc": "roc_auc", "f1_score": "f1"}


def canonical_metric(name: str) -> str:
    """The one name of a metric (``auc`` is ``roc_auc``).

    Example:
        >>> canonical_metric("auc"), canonical_metric("f1")
        ('roc_auc', 'f1')
    """
    return METRIC_ALIASES.get(name, name)


def predictions_schema() -> pa.Schema:
    """Columns of the predictions table.

    Example:
        >>> predictions_schema().names
        ['request_id', 'row_index', 'model', 'predicted_at', 'score']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("row_index", pa.int32()),
            ("model", pa.string()),
            ("predicted_at", pa.timestamp("us", tz="UTC")),
            ("score", pa.float64()),
        ]
    )


def labels_schema() -> pa.Schema:
    """Columns of the labels table.

    Example:
        >>> labels_schema().names
        ['request_id', 'row_index', 'label', 'ingested_at']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("row_index", pa.int32()),
            ("label", pa.int8()),
            ("ingested_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def _conform(
    rows: pa.Table, schema: pa.Schema, *, what: str, defaults: Mapping[str, Any]
) -> pa.Table:
    import pyarrow as pa

    columns = []
    for f in schema:
        if f.name in rows.column_names:
            column = rows.column(f.name)
        elif f.name in defaults:
            column = pa.array([defaults[f.name]] * rows.num_rows)
        else:
            raise SchemaMismatch(
                f"{what} lack column {f.name!r}; they have {rows.column_names}. Needed: "
                f"{[n for n in schema.names if n not in defaults]}."
            )
        try:
            columns.append(column.cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaMismatch(f"{what}: column {f.name!r} is not {f.type}: {exc}") from exc
    return pa.Table.from_arrays(columns, schema=schema)


def logged_predictions(log_root: Path) -> pa.Table:
    """The predictions ``/predict`` wrote to the request log, as :func:`predictions_schema`
    rows (``model`` is the model name, ``predicted_at`` the instant the features were
    served); empty when there is no request log.

    Example:
        >>> logged_predictions(Path("data/offline/request_log")).num_rows  # doctest: +SKIP
        120
    """
    import duckdb
    import pyarrow as pa

    from parity.monitor.log_layout import find_layouts

    schema = predictions_schema()
    try:
        layouts = find_layouts(log_root)
    except ObjectNotFound:
        return schema.empty_table()
    files = [f for s in layouts if s.layout.prediction for f in s.files()]
    if not files:
        return schema.empty_table()
    with duckdb.connect() as con:
        table = con.sql(
            "SELECT request_id, row_index, prediction.model AS model, served_at AS predicted_at, "
            "prediction.score AS score FROM read_parquet($files)",
            params={"files": files},
        ).to_arrow_table()
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def all_predictions(root: Path, request_log: Path | None = None) -> pa.Table:
    """Predictions of the monitoring table, plus the request log's when ``request_log``.

    Example:
        >>> all_predictions(root, request_log_root(offline)).column_names  # doctest: +SKIP
        ['request_id', 'row_index', 'model', 'predicted_at', 'score']
    """
    import pyarrow as pa

    stored = read_records(root, PREDICTIONS_TABLE, predictions_schema())
    if request_log is None:
        return stored
    return pa.concat_tables([stored, logged_predictions(request_log)])


def log_predictions(root: Path, rows: pa.Table) -> int:
    """Append predictions (``row_index`` defaults to 0); returns the rows written."""
    table = _conform(rows, predictions_schema(), what="Predictions", defaults={"row_index": 0})
    append_records(root, PREDICTIONS_TABLE, table)
    return int(table.num_rows)


@dataclass(frozen=True)
class LabelIngest:
    """What one ingest did: rows read, and how many matched a logged prediction.

    Example:
        >>> LabelIngest(10, 8).unmatched
        2
    """

    rows: int
    matched: int

    @property
    def unmatched(self) -> int:
        """Labels for which no prediction was logged (yet)."""
        return self.rows - self.matched


def read_label_file(path: Path) -> pa.Table:
    """A Parquet or CSV file of labels."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix.lower() == ".csv":
        return pacsv.read_csv(path)
    return pq.read_table(path)


def ingest_labels(
    root: Path,
    labels: pa.Table,
    *,
    now: datetime | None = None,
    request_log: Path | None = None,
) -> LabelIngest:
    """Store late labels (``request_id``, ``label`` 0/1, optional ``row_index``); matched
    against logged predictions, including the request log's when ``request_log``."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    now = datetime.now(UTC) if now is None else now
    if "label" in labels.column_names and pa.types.is_boolean(labels.column("label").type):
        labels = labels.set_column(
            labels.column_names.index("label"), "label", labels.column("label").cast(pa.int8())
        )
    table = _conform(
        labels, labels_schema(), what="Labels", defaults={"row_index": 0, "ingested_at": now}
    )
    bad = pc.sum(pc.invert(pc.is_in(table.column("label"), pa.array([0, 1], pa.int8()))))
    if (bad.as_py() or 0) > 0:
        raise SchemaMismatch("Labels: 'label' must be 0 or 1 (or true/false) for every row.")
    append_records(root, LABELS_TABLE, table)
    predictions = all_predictions(root, request_log)
    with duckdb.connect() as con:
        con.register("labels", table)
        con.register("predictions", predictions.select(["request_id", "row_index"]))
        [(matched,)] = con.sql(
            "SELECT count(*) FROM labels l SEMI JOIN predictions p "
            "ON l.request_id = p.request_id AND l.row_index = p.row_index"
        ).fetchall()
    return LabelIngest(table.num_rows, int(matched))


@dataclass(frozen=True)
class WindowPerformance:
    """Metrics of the predictions made in ``[start, end)``.

    ``metrics`` holds precision, recall, f1 and roc_auc (None when undefined, e.g. AUC with
    one class); ``drops``: validation value minus this window's value (positive = worse).
    """

    start: datetime
    end: datetime
    predictions: int
    labeled: int
    metrics: Mapping[str, float | None]
    drops: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def label_coverage(self) -> float:
        """Share of predictions that have a label."""
        return self.labeled / self.predictions if self.predictions else 0.0


@dataclass(frozen=True)
class PerformanceReport:
    """Per-window performance of one model.

    Example:
        >>> from datetime import datetime, timedelta, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> day = WindowPerformance(at, at + timedelta(days=1), predictions=4, labeled=4,
        ...                         metrics={"f1": 0.75})
        >>> report = PerformanceReport("fraud@3", 0.5, {"f1": 0.81}, (day,))
        >>> report.to_dict()["windows"][0]["metrics"]["f1"]
        0.75
    """

    model: str
    threshold: float
    validation: Mapping[str, float]
    windows: tuple[WindowPerformance, ...]

    def observations(self) -> list[Observation]:
        """Metric drops of the latest labeled window (``f1_drop``, ...), for alert rules."""
        labeled = [w for w in self.windows if w.labeled]
        if not labeled:
            return []
        last = labeled[-1]
        evidence = {"model": self.model, "window_start": last.start.isoformat(),
                    "labeled": last.labeled, "metrics": dict(last.metrics)}  # fmt: skip
        return [
            Observation(f"{name}_drop", self.model, drop, evidence)
            for name, drop in last.drops.items()
            if drop is not None
        ] + [Observation("label_coverage", self.model, last.label_coverage, evidence)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model": self.model,
            "threshold": self.threshold,
            "validation": dict(self.validation),
            "windows": [
                {"start": w.start.isoformat(), "end": w.end.isoformat(),
                 "predictions": w.predictions, "labeled": w.labeled,
                 "label_coverage": w.label_coverage, "metrics": dict(w.metrics),
                 "drops": dict(w.drops)}
                for w in self.windows
            ],
        }  # fmt: skip


def classification_metrics(
    labels: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float | None]:
    """Precision, recall, F1 and ROC AUC (scikit-learn) of scores against 0/1 labels.

    Example:
        >>> m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.4, 0.6]))
        >>> m["precision"], m["recall"], m["roc_auc"]
        (0.5, 0.5, 0.75)
    """
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    if len(labels) == 0:
        return dict.fromkeys(METRICS)
    predicted = (scores >= threshold).astype(np.int8)
    auc = float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None
    return {
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": auc,
    }


def performance(
    root: Path,
    *,
    model: str,
    window: timedelta,
    validation: Mapping[str, float] | None = None,
    threshold: float = 0.5,
    start: datetime | None = None,
    end: datetime | None = None,
    request_log: Path | None = None,
) -> PerformanceReport:
    """Per-window metrics of ``model``'s labeled predictions and their drop vs validation
    (the request log's ``/predict`` predictions too when ``request_log``)."""
    import duckdb

    predictions = all_predictions(root, request_log)
    labels = read_records(root, LABELS_TABLE, labels_schema())
    step = int(window.total_seconds() * 1_000_000)
    with duckdb.connect() as con:
        con.register("predictions", predictions)
        con.register("labels", labels)
        joined = con.sql(
            """
            WITH newest AS (
                SELECT request_id, row_index, arg_max(label, ingested_at) AS label
                FROM labels GROUP BY request_id, row_index
            )
            SELECT (epoch_us(p.predicted_at) // $step) AS bucket, p.score, n.label
            FROM predictions p LEFT JOIN newest n USING (request_id, row_index)
            WHERE p.model = $model
              AND ($start IS NULL OR p.predicted_at >= $start)
              AND ($end IS NULL OR p.predicted_at < $end)
            ORDER BY bucket
            """,
            params={"step": step, "model": model, "start": start, "end": end},
        ).to_arrow_table()
    buckets = joined.column("bucket").to_numpy(zero_copy_only=False)
    scores = joined.column("score").to_numpy(zero_copy_only=False)
    label_column = joined.column("label")
    has_label = label_column.is_valid().to_numpy(zero_copy_only=False)
    label_values = label_column.fill_null(0).to_numpy(zero_copy_only=False)
    reference = {canonical_metric(k): v for k, v in (validation or {}).items()}
    windows = []
    for bucket in np.unique(buckets):  # one iteration per window, not per row
        rows = buckets == bucket
        labeled = rows & has_label
        metrics = classification_metrics(
            label_values[labeled], scores[labeled], threshold=threshold
        )
        drops: dict[str, float | None] = {}
        for name in (n for n in reference if n in METRICS):
            value = metrics.get(name)
            drops[name] = None if value is None else reference[name] - value
        begin = datetime.fromtimestamp(int(bucket) * step / 1_000_000, tz=UTC)
        windows.append(
            WindowPerformance(
                begin, begin + window, int(rows.sum()), int(labeled.sum()), metrics, drops
            )
        )
    return PerformanceReport(model, threshold, reference, tuple(windows))


def error_by_window(report: PerformanceReport, *, metric: str = "f1") -> list[float | None]:
    """``1 - metric`` per window (None where undefined), the error series for the
    drift-error link.

    Example:
        >>> from datetime import datetime, timedelta, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> day = WindowPerformance(at, at + timedelta(days=1), predictions=4, labeled=4,
        ...                         metrics={"f1": 0.75})
        >>> report = PerformanceReport("fraud@3", 0.5, {"f1": 0.81}, (day,))
        >>> error_by_window(report)
        [0.25]
    """
    return [None if w.metrics.get(metric) is None else 1.0 - float(w.metrics[metric] or 0.0)
            for w in report.windows]  # fmt: skip


def window_starts(report: PerformanceReport) -> Sequence[datetime]:
    """The start of each window, in order."""
    return [w.start for w in report.windows]
