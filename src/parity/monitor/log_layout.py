"""The typed request log on disk: one Arrow schema per layout, one folder per layout.

A *layout* is what one kind of request serves: a feature service version (or an ad-hoc
feature list), its output features with their declared types, the join keys, the view
versions read, and, for ``/predict``, the prediction. The feature server writes each
layout's rows under ``<log root>/layout=<name>/date=YYYY-MM-DD/*.parquet``; a new service
version is a new layout, so every file has one fixed schema and a window of served values
is a columnar Parquet scan (no JSON to parse). The layout itself is stored in each file's
schema metadata (key ``parity.request_log``), so a reader needs no registry.

Columns (see docs/serving.md): ``request_id``, ``row_index``, ``served_at``, ``service``,
``service_version``, ``sample_weight``, ``entity`` (struct of typed join keys), ``features``
(struct, one field per feature with its declared Arrow type; a vector as a list),
``statuses`` (struct, one dictionary-encoded string per feature), ``event_timestamps``
(struct, one timestamp per view version read), and for ``/predict`` ``prediction``
(struct: model, model_version, role, score).

Example:
    >>> layout = LogLayout("fraud", 1, (("amount", "float64", 0),), (("user_id", "int64"),),
    ...                    ("user_stats@v1",), ("present", "not_found"))
    >>> layout.name
    'fraud@v1-...'
    >>> layout_schema(layout).field("features").type
    StructType(struct<amount: double>)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.errors import ObjectNotFound, SchemaMismatch
from parity.types import parse_dtype

if TYPE_CHECKING:
    import pyarrow as pa

METADATA_KEY = b"parity.request_log"
FORMAT = 2  # 1 was the JSON ``values`` layout (files directly under date=YYYY-MM-DD/)
LAYOUT_PREFIX = "layout="
DATE_PREFIX = "date="


@dataclass(frozen=True)
class LogLayout:
    """What the rows of one layout hold.

    ``features``: ``(output name, dtype name, index of its view in views)`` in canonical
    order; ``join_keys``: ``(name, dtype name)``; ``views``: the view versions read,
    ``name@vN``; ``statuses``: the status spellings, in code order; ``prediction``: rows
    also carry a model's prediction (``/predict``).

    Example:
        >>> LogLayout(None, None, (("x", "int64", 0),), (), ("v@v1",), ("present",)).service
    """

    service: str | None
    service_version: int | None
    features: tuple[tuple[str, str, int], ...]
    join_keys: tuple[tuple[str, str], ...]
    views: tuple[str, ...]
    statuses: tuple[str, ...]
    prediction: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in each file's schema metadata."""
        return {
            "format": FORMAT,
            "service": self.service,
            "service_version": self.service_version,
            "features": [list(f) for f in self.features],
            "join_keys": [list(k) for k in self.join_keys],
            "views": list(self.views),
            "statuses": list(self.statuses),
            "prediction": self.prediction,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogLayout:
        """Inverse of :meth:`to_dict`."""
        return cls(
            service=data["service"],
            service_version=data["service_version"],
            features=tuple((str(n), str(t), int(v)) for n, t, v in data["features"]),
            join_keys=tuple((str(n), str(t)) for n, t in data["join_keys"]),
            views=tuple(data["views"]),
            statuses=tuple(data["statuses"]),
            prediction=bool(data["prediction"]),
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Output names, canonical order."""
        return tuple(name for name, _, _ in self.features)

    @property
    def name(self) -> str:
        """The folder name: ``service@vN-<fingerprint>`` (``features-<fp>`` for a list)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        head = "features" if self.service is None else f"{self.service}@v{self.service_version}"
        return f"{head}-{digest}"


def layout_schema(layout: LogLayout) -> pa.Schema:
    """The Arrow schema of a layout's files, with the layout in its metadata.

    Example:
        >>> layout_schema(LogLayout(None, None, (), (), (), ("present",))).names[:3]
        ['request_id', 'row_index', 'served_at']
    """
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    status = pa.dictionary(pa.int8(), pa.string())
    fields = [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("row_index", pa.int32(), nullable=False),
        pa.field("served_at", ts, nullable=False),
        pa.field("service", pa.string()),
        pa.field("service_version", pa.int32()),
        pa.field("sample_weight", pa.float64(), nullable=False),
        pa.field("entity", _struct([(k, _arrow(t)) for k, t in layout.join_keys])),
        pa.field("features", _struct([(n, _arrow(t)) for n, t, _ in layout.features])),
        pa.field("statuses", _struct([(n, status) for n, _, _ in layout.features])),
        pa.field("event_timestamps", _struct([(v, ts) for v in layout.views])),
    ]
    if layout.prediction:
        prediction = [("model", pa.string()), ("model_version", pa.int32()),
                      ("role", pa.string()), ("score", pa.float64())]  # fmt: skip
        fields.append(pa.field("prediction", _struct(prediction)))
    metadata = {METADATA_KEY: json.dumps(layout.to_dict()).encode()}
    return pa.schema(fields, metadata=metadata)


def _arrow(dtype: str) -> pa.DataType:
    import pyarrow as pa

    kind = parse_dtype(dtype).to_arrow()
    if pa.types.is_fixed_size_list(kind):
        # A vector is logged as a plain list: pyarrow cannot read back a Parquet
        # fixed-size list column that holds nulls (every not-found vector is one).
        return pa.list_(kind.value_type)
    return kind


def _struct(fields: Sequence[tuple[str, pa.DataType]]) -> pa.DataType:
    import pyarrow as pa

    # Parquet cannot store a struct without fields: an empty one keeps a placeholder.
    return pa.struct(list(fields) or [("_", pa.null())])


@dataclass(frozen=True)
class StoredLayout:
    """One layout folder of a request log and the layout its files hold.

    Example:
        >>> [s.layout.service for s in find_layouts(Path("data/offline/request_log"))]
        ... # doctest: +SKIP
        ['fraud_detection']
    """

    path: Path
    layout: LogLayout

    def files(self, *, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """Its Parquet files, only the days that ``[start, end)`` touches."""
        # Folders are UTC days (``served_at``); a window given in another zone is converted.
        first = None if start is None else _utc_day(start)
        last = None if end is None else _utc_day(end - timedelta(microseconds=1))
        out = []
        for day in sorted(self.path.glob(f"{DATE_PREFIX}*")):
            date = day.name.removeprefix(DATE_PREFIX)
            if (first is not None and date < first) or (last is not None and date > last):
                continue
            out += [str(f) for f in sorted(day.glob("*.parquet"))]
        return out


def _utc_day(instant: datetime) -> str:
    if instant.tzinfo is not None:
        instant = instant.astimezone(UTC)
    return instant.date().isoformat()


def find_layouts(root: Path) -> list[StoredLayout]:
    """Every layout under a request log root that has at least one file.

    Raises :class:`ObjectNotFound` when there is no log at all and :class:`SchemaMismatch`
    when the root holds files in the JSON layout of an earlier parity.
    """
    import pyarrow.parquet as pq

    old = [p for p in root.glob(f"{DATE_PREFIX}*/*.parquet")][:1]
    if old:
        raise SchemaMismatch(
            f"The request log under {str(root)!r} holds files in the old JSON layout "
            f"(e.g. {str(old[0])!r}, with a 'values' JSON column); this version of parity "
            "reads only the typed layout (<root>/layout=<name>/date=YYYY-MM-DD/). The log "
            f"format changed before the first release: move the old folders away "
            f"(mv {root}/date=* <archive>/) and serve again to write the typed layout."
        )
    found = []
    for folder in sorted(root.glob(f"{LAYOUT_PREFIX}*")):
        sample = next(folder.glob(f"{DATE_PREFIX}*/*.parquet"), None)
        if sample is None:
            continue
        metadata = pq.read_schema(sample).metadata or {}
        if METADATA_KEY not in metadata:
            raise SchemaMismatch(
                f"{str(sample)!r} has no {METADATA_KEY.decode()!r} schema metadata: it was "
                "not written by parity's request log. Move it out of the log folder."
            )
        layout = LogLayout.from_dict(json.loads(metadata[METADATA_KEY]))
        found.append(StoredLayout(folder, layout))
    if not found:
        raise ObjectNotFound(
            f"No request log under {str(root)!r}. The feature server writes it "
            "('parity serve', request_log.enabled: true); or pass a frame of served values."
        )
    return found
