"""Deterministic benchmark workload shared by the offline and online benchmarks.

Three feature views keyed on ``user_id`` (int64), five features each (float32, float64,
int64, float64, string) with ~1% nulls per feature, ~1% exact event-time ties broken by
the created timestamp, event times uniform over January 2026, TTLs of 2 days, 7 days and
none. The entity frame draws ``user_id`` uniformly from the entity population and its
``event_timestamp`` uniformly from the same month. Everything is seeded numpy, written once
to Parquet under ``benchmarks/.data/<scale>/`` and reused.

Example:
    >>> from benchmarks._workload import SCALES, workload
    >>> wl = workload("S")                         # doctest: +SKIP
    >>> wl.views[0].name, wl.views[0].ttl_days     # doctest: +SKIP
    ('v_2d', 2)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA_ROOT = Path(__file__).resolve().parent / ".data"
GENERATOR_VERSION = 1
MONTH_START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
MONTH_US = 31 * 86_400 * 1_000_000
ENTITIES = 100_000


@dataclass(frozen=True)
class Scale:
    """Row counts of one benchmark scale."""

    rows_per_view: int
    entity_rows: int


SCALES = {
    "XS": Scale(rows_per_view=100_000, entity_rows=10_000),
    "S": Scale(rows_per_view=1_000_000, entity_rows=100_000),
    "M": Scale(rows_per_view=10_000_000, entity_rows=1_000_000),
}


@dataclass(frozen=True)
class ViewSpec:
    """One generated feature view: its Parquet file, ttl and feature columns."""

    name: str
    path: Path
    ttl_days: int | None
    features: tuple[str, ...]


@dataclass(frozen=True)
class Workload:
    """The generated files of one scale."""

    scale: str
    views: tuple[ViewSpec, ...]
    entity_path: Path
    entities: int = ENTITIES


VIEW_TTLS = (("v_2d", 2), ("v_7d", 7), ("v_none", None))
FEATURE_SUFFIXES = ("f32", "f64", "i64", "ratio", "label")


def _with_nulls(rng: np.random.Generator, values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    mask = rng.random(values.shape[0]) < 0.01
    return pa.array(values, type=arrow_type, mask=mask)


def _view_table(rng: np.random.Generator, rows: int, prefix: str) -> pa.Table:
    ties = rows // 100
    base = rows - ties
    user = rng.integers(0, ENTITIES, base, dtype=np.int64)
    event = MONTH_START_US + rng.integers(0, MONTH_US, base, dtype=np.int64)
    # ~1% of rows repeat an existing (user_id, event_timestamp) with a later created time.
    pick = rng.integers(0, base, ties)
    user = np.concatenate([user, user[pick]])
    event = np.concatenate([event, event[pick]])
    delay = rng.integers(0, 3_600_000_000, rows, dtype=np.int64)
    delay[base:] += 3_600_000_000  # the tie rows were written later: they win the tie
    created = event + delay
    order = rng.permutation(rows)
    user, event, created = user[order], event[order], created[order]
    labels = np.array([f"cat_{i}" for i in range(50)], dtype=object)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "user_id": pa.array(user, pa.int64()),
            "event_timestamp": pa.array(event, pa.int64()).cast(ts),
            "created_timestamp": pa.array(created, pa.int64()).cast(ts),
            f"{prefix}_f32": _with_nulls(rng, rng.random(rows, dtype=np.float32), pa.float32()),
            f"{prefix}_f64": _with_nulls(rng, rng.normal(size=rows), pa.float64()),
            f"{prefix}_i64": _with_nulls(rng, rng.integers(0, 1_000_000, rows), pa.int64()),
            f"{prefix}_ratio": _with_nulls(rng, rng.random(rows), pa.float64()),
            f"{prefix}_label": _with_nulls(rng, labels[rng.integers(0, 50, rows)], pa.string()),
        }
    )


def _entity_table(rng: np.random.Generator, rows: int) -> pa.Table:
    user = rng.integers(0, ENTITIES, rows, dtype=np.int64)
    event = MONTH_START_US + rng.integers(0, MONTH_US, rows, dtype=np.int64)
    return pa.table(
        {
            "row_id": pa.array(np.arange(rows, dtype=np.int64)),
            "user_id": pa.array(user),
            "event_timestamp": pa.array(event).cast(pa.timestamp("us", tz="UTC")),
        }
    )


def workload(scale: str, *, root: Path = DATA_ROOT) -> Workload:
    """Generate (once) and describe the workload of ``scale`` (``XS``, ``S`` or ``M``).

    Example:
        >>> workload("XS").entity_path.name  # doctest: +SKIP
        'entity.parquet'
    """
    size = SCALES[scale]
    folder = root / scale
    marker = folder / "manifest.json"
    views = tuple(
        ViewSpec(
            name=name,
            path=folder / f"{name}.parquet",
            ttl_days=ttl,
            features=tuple(f"{name}_{s}" for s in FEATURE_SUFFIXES),
        )
        for name, ttl in VIEW_TTLS
    )
    result = Workload(scale=scale, views=views, entity_path=folder / "entity.parquet")
    manifest = {"generator": GENERATOR_VERSION, "scale": scale, "size": size.__dict__}
    if marker.is_file() and json.loads(marker.read_text()) == manifest:
        return result
    folder.mkdir(parents=True, exist_ok=True)
    for index, view in enumerate(views):
        rng = np.random.default_rng(1000 + index)
        table = _view_table(rng, size.rows_per_view, view.name)
        pq.write_table(table, view.path, row_group_size=1_000_000)
    pq.write_table(_entity_table(np.random.default_rng(7), size.entity_rows), result.entity_path)
    marker.write_text(json.dumps(manifest))
    return result
