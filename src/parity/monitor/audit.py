"""The consistency auditor: sampled online values against offline point-in-time values.

It samples entity keys of a view version from the online store (its scan capability),
reads their online values, recomputes the offline point-in-time value of each key *at the
event time of its online value* (the same instant, ttl ignored: the online store keeps the
newest value whatever its age) and compares feature by feature: both null, online null
only (``left_null``), offline null only (``right_null``), both present but different
(``mismatches``, NaN equal to NaN as in :func:`parity.sync.consistency.values_equal`),
and the mean SMAPE of the numeric pairs. A key disagrees if any of its features does; the
view version is ``inconsistent`` when the share of disagreeing keys exceeds its threshold.
Every audit is stored in ``<offline path>/monitoring/audits``; :func:`serving_blocked`
tells a server whether the latest audit blocked a version.

The comparison is column-wise (Arrow compute); only the online read takes key tuples.

Example:
    >>> report = audit_view(engine, online, spec, table, sample=1000)  # doctest: +SKIP
    >>> report.status, report.mismatch_rate  # doctest: +SKIP
    (<ConsistencyStatus.CONSISTENT: 'consistent'>, 0.0)
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from parity.monitor.alerts import Observation
from parity.monitor.config import InconsistencyPolicy
from parity.monitor.records import append_records, read_records
from parity.offline.base import OfflineEngine, ViewReadSpec
from parity.online.base import OnlineStore, ReadRequest, ScansEntities, ViewTable
from parity.sync.consistency import values_equal

if TYPE_CHECKING:
    import pyarrow as pa

AUDITS_TABLE = "audits"


class ConsistencyStatus(enum.StrEnum):
    """The auditor's verdict on one view version."""

    # The share of disagreeing keys is within the threshold.
    CONSISTENT = "consistent"
    # More keys disagree than the threshold allows: serving and training differ.
    INCONSISTENT = "inconsistent"
    # Nothing to compare: no entity online (or the backend cannot scan).
    NO_DATA = "no_data"


@dataclass(frozen=True)
class FeatureConsistency:
    """One feature's comparison over the sampled keys.

    Example:
        >>> FeatureConsistency("x", 10, 1, 0, 2, 3, 0.1).agreeing
        5
    """

    feature: str
    total: int
    both_null: int
    left_null: int
    right_null: int
    mismatches: int
    mean_smape: float | None

    @property
    def agreeing(self) -> int:
        """Keys whose online and offline values are equal (both null counts as equal)."""
        return self.total - self.left_null - self.right_null - self.mismatches


@dataclass(frozen=True)
class AuditReport:
    """One audit of one view version.

    Example:
        >>> from datetime import datetime, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> report = AuditReport("a1", "user_stats", 1, at, "sync", sampled=200, disagreeing=2,
        ...                      max_mismatch_rate=0.0, policy=InconsistencyPolicy.ALERT,
        ...                      features=())
        >>> report.to_dict()["status"], report.mismatch_rate
        ('inconsistent', 0.01)
    """

    audit_id: str
    view: str
    version: int
    at: datetime
    source: str
    sampled: int
    disagreeing: int
    max_mismatch_rate: float
    policy: InconsistencyPolicy
    features: tuple[FeatureConsistency, ...]
    examples: tuple[str, ...] = ()
    action: str = ""
    # Keys sampled from the offline side (published by the newest successful sync), and
    # how many of them the online store does not hold: each counts as disagreeing.
    offline_sampled: int = 0
    missing_online: int = 0

    @property
    def ref(self) -> str:
        """``view@vN``."""
        return f"{self.view}@v{self.version}"

    @property
    def keys_checked(self) -> int:
        """Keys sampled from both sides."""
        return self.sampled + self.offline_sampled

    @property
    def mismatch_rate(self) -> float:
        """Share of checked keys that disagree: a differing feature, or missing online."""
        wrong = self.disagreeing + self.missing_online
        return wrong / self.keys_checked if self.keys_checked else 0.0

    @property
    def status(self) -> ConsistencyStatus:
        """The verdict."""
        if self.keys_checked == 0:
            return ConsistencyStatus.NO_DATA
        if self.mismatch_rate > self.max_mismatch_rate:
            return ConsistencyStatus.INCONSISTENT
        return ConsistencyStatus.CONSISTENT

    def observations(self) -> list[Observation]:
        """The mismatch rate, for alert rules."""
        if self.keys_checked == 0:
            return []
        return [Observation("mismatch_rate", self.ref, self.mismatch_rate, self.to_dict())]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "audit_id": self.audit_id,
            "view": self.view,
            "version": self.version,
            "ref": self.ref,
            "at": self.at.isoformat(),
            "source": self.source,
            "sampled": self.sampled,
            "disagreeing": self.disagreeing,
            "offline_sampled": self.offline_sampled,
            "missing_online": self.missing_online,
            "mismatch_rate": self.mismatch_rate,
            "max_mismatch_rate": self.max_mismatch_rate,
            "status": self.status.value,
            "policy": self.policy.value,
            "action": self.action,
            "features": [dataclasses.asdict(f) for f in self.features],
            "examples": list(self.examples),
        }


def sample_online_keys(
    online: OnlineStore, table: ViewTable, *, sample: int, seed: int = 0
) -> pa.Table:
    """A uniform random sample of the keys held online, with their event timestamps."""
    import pyarrow as pa

    if not isinstance(online, ScansEntities):
        from parity.errors import ConfigError

        raise ConfigError(
            f"The online store {type(online).__name__} cannot scan its entities, so the "
            "auditor cannot sample keys. Use the SQLite or Redis online store."
        )
    columns = [*table.join_key_names, "event_timestamp"]
    batches = [b.select(columns) for b in online.scan(table)]
    if not batches:
        return pa.table({c: [] for c in columns})
    keys = pa.concat_tables(batches)
    if keys.num_rows > sample:
        picked = np.sort(np.random.default_rng(seed).choice(keys.num_rows, sample, replace=False))
        keys = keys.take(pa.array(picked))
    return keys


def _numeric_smape(
    online: pa.ChunkedArray, offline: pa.ChunkedArray, both: pa.Array
) -> float | None:
    import pyarrow.compute as pc

    a = pc.filter(online, both).to_numpy(zero_copy_only=False).astype(np.float64)
    b = pc.filter(offline, both).to_numpy(zero_copy_only=False).astype(np.float64)
    if len(a) == 0:
        return None
    scale = (np.abs(a) + np.abs(b)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        smape = np.where(scale == 0, 0.0, np.abs(a - b) / scale)
    smape = np.where(np.isnan(a) & np.isnan(b), 0.0, smape)
    return float(np.nanmean(smape)) if not np.isnan(smape).all() else None


def compare_columns(
    name: str, online: pa.ChunkedArray, offline: pa.ChunkedArray
) -> tuple[FeatureConsistency, pa.Array]:
    """Compare one feature column-wise; also return the per-key disagreement mask."""
    import pyarrow as pa
    import pyarrow.compute as pc

    on_null = pc.is_null(online)
    off_null = pc.is_null(offline)
    both = pc.and_(pc.invert(on_null), pc.invert(off_null))
    numeric = pa.types.is_integer(online.type) or pa.types.is_floating(online.type)
    if numeric or pa.types.is_string(online.type) or pa.types.is_boolean(online.type):
        equal = pc.fill_null(pc.equal(online, offline.cast(online.type)), False)
        if pa.types.is_floating(online.type):
            nan_pair = pc.and_(pc.is_nan(online), pc.is_nan(offline.cast(online.type)))
            equal = pc.or_(equal, pc.fill_null(nan_pair, False))
    else:  # lists, vectors, bytes, timestamps: few, compared value by value
        equal = pa.array(
            [
                values_equal(a, b)
                for a, b in zip(online.to_pylist(), offline.to_pylist(), strict=True)
            ]
        )
    differ = pc.and_(both, pc.invert(equal))
    left = pc.and_(on_null, pc.invert(off_null))
    right = pc.and_(pc.invert(on_null), off_null)
    disagree = pc.or_(differ, pc.or_(left, right))
    result = FeatureConsistency(
        feature=name,
        total=len(online),
        both_null=int(pc.sum(pc.and_(on_null, off_null)).as_py() or 0),
        left_null=int(pc.sum(left).as_py() or 0),
        right_null=int(pc.sum(right).as_py() or 0),
        mismatches=int(pc.sum(differ).as_py() or 0),
        mean_smape=_numeric_smape(online, offline, both) if numeric else None,
    )
    return result, disagree


def audit_view(
    engine: OfflineEngine,
    online: OnlineStore,
    spec: ViewReadSpec,
    table: ViewTable,
    *,
    sample: int = 1000,
    max_mismatch_rate: float = 0.0,
    policy: InconsistencyPolicy = InconsistencyPolicy.ALERT,
    seed: int = 0,
    max_examples: int = 5,
    expected: pa.Table | None = None,
) -> AuditReport:
    """Audit one view version on ``sample`` keys drawn from the online store and, when
    given, the ``expected`` keys drawn from the offline side
    (:func:`parity.monitor.audit_offline.expected_online_keys`): those missing online
    disagree."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = sample_online_keys(online, table, sample=sample, seed=seed)
    at = datetime.now(UTC)
    missing, missing_examples = _missing_online(online, table, expected, max_examples)
    offline_sampled = 0 if expected is None else expected.num_rows
    if keys.num_rows == 0:
        return AuditReport(uuid.uuid4().hex, table.view, table.version, at, "online", 0, 0,
                           max_mismatch_rate, policy, (), examples=missing_examples,
                           offline_sampled=offline_sampled, missing_online=missing)  # fmt: skip
    key_names = list(table.join_key_names)
    entity = keys.select(key_names).append_column(
        "event_timestamp", keys.column("event_timestamp").cast(pa.timestamp("us", tz="UTC"))
    )
    offline = engine.get_historical_features(entity, [dataclasses.replace(spec, ttl=None)])
    offline_table = offline.to_arrow()
    key_tuples = list(zip(*(entity.column(k).to_pylist() for k in key_names), strict=True))
    [rows] = online.read([ReadRequest(table, key_tuples)])
    features = []
    any_disagree = pa.array([False] * len(key_tuples))
    examples: list[str] = list(missing_examples)
    for position, (name, dtype) in enumerate(table.features):
        column_values = [None if r is None else r.values[position] for r in rows]
        online_column = pa.chunked_array([pa.array(column_values, type=dtype.to_arrow())])
        result, disagree = compare_columns(name, online_column, offline_table.column(name))
        features.append(result)
        any_disagree = pc.or_(any_disagree, disagree)
        for index in pc.indices_nonzero(disagree).to_pylist()[: max_examples - len(examples)]:
            examples.append(
                f"{dict(zip(key_names, key_tuples[index], strict=True))} {name}: online "
                f"{column_values[index]!r} != offline {offline_table.column(name)[index].as_py()!r}"
            )
    return AuditReport(
        audit_id=uuid.uuid4().hex,
        view=table.view,
        version=table.version,
        at=at,
        source="online",
        sampled=len(key_tuples),
        disagreeing=int(pc.sum(any_disagree).as_py() or 0),
        max_mismatch_rate=max_mismatch_rate,
        policy=policy,
        features=tuple(features),
        examples=tuple(examples),
        offline_sampled=offline_sampled,
        missing_online=missing,
    )


def _missing_online(
    online: OnlineStore, table: ViewTable, expected: pa.Table | None, max_examples: int
) -> tuple[int, tuple[str, ...]]:
    if expected is None or expected.num_rows == 0:
        return 0, ()
    names = list(table.join_key_names)
    keys = list(zip(*(expected.column(k).to_pylist() for k in names), strict=True))
    [rows] = online.read([ReadRequest(table, keys)])
    absent = [key for key, row in zip(keys, rows, strict=True) if row is None]
    examples = tuple(
        f"{dict(zip(names, key, strict=True))}: missing online (published by the last sync)"
        for key in absent[:max_examples]
    )
    return len(absent), examples


def audits_schema() -> pa.Schema:
    """The Arrow schema of the stored audits table.

    Example:
        >>> audits_schema().names[:4]
        ['audit_id', 'at', 'view', 'version']
    """
    import pyarrow as pa

    return pa.schema(
        [
            ("audit_id", pa.string()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("view", pa.string()),
            ("version", pa.int32()),
            ("source", pa.string()),
            ("sampled", pa.int64()),
            ("disagreeing", pa.int64()),
            ("mismatch_rate", pa.float64()),
            ("max_mismatch_rate", pa.float64()),
            ("status", pa.string()),
            ("policy", pa.string()),
            ("action", pa.string()),
            ("report", pa.string()),  # JSON: features and examples
        ]
    )


def store_audit(root: Path, report: AuditReport) -> None:
    """Append one audit to ``<root>/audits``."""
    import pyarrow as pa

    data = report.to_dict()
    row = {name: data.get(name) for name in audits_schema().names if name not in ("at", "report")}
    row.update(at=report.at, report=json.dumps(data, default=str))
    append_records(root, AUDITS_TABLE, pa.Table.from_pylist([row], schema=audits_schema()))


def latest_audit(root: Path, view: str, version: int) -> dict[str, Any] | None:
    """The newest stored audit of a view version (a row of :func:`audits_schema`), or None."""
    import pyarrow.compute as pc

    audits = read_records(root, AUDITS_TABLE, audits_schema())
    mine = audits.filter(
        pc.and_(pc.equal(audits["view"], view), pc.equal(audits["version"], version))
    )
    if mine.num_rows == 0:
        return None
    newest: dict[str, Any] = mine.sort_by([("at", "descending")]).slice(0, 1).to_pylist()[0]
    return newest
