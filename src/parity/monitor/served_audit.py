"""Consistency of real served requests: what the server answered against what the offline
store says it should have answered at that instant.

From the request log (see :mod:`parity.monitor.served`) a uniform sample of the rows of
every layout that read a view version (its ``event_timestamps`` has a field ``view@vN``);
each row's typed ``entity`` keys and ``served_at`` become an entity frame; the offline
point-in-time values at ``served_at`` (with the view's ttl, and
``point_in_time="available"``: only rows already written then) are compared feature by
feature with the served values, exactly as the online auditor does. A served value may
be missing because the sync had not published it yet: such differences are real (the
model saw them), and ``parity status`` tells lag apart.

Features are found under their name or ``view__feature`` (``full_feature_names``);
numeric, string and bool features that every sampled request served are compared; other
dtypes, and features a service does not serve, are skipped.

Example:
    >>> report = audit_served(engine, spec, table, log_root, sample=1000)  # doctest: +SKIP
    >>> report.source  # doctest: +SKIP
    'request_log'
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from parity.monitor.audit import AuditReport, compare_columns
from parity.monitor.config import InconsistencyPolicy
from parity.monitor.log_layout import find_layouts
from parity.monitor.served import quote
from parity.offline.base import OfflineEngine, ViewReadSpec
from parity.online.base import ViewTable
from parity.types import DType

if TYPE_CHECKING:
    import pyarrow as pa


def _sql_type(dtype: DType) -> str | None:
    return {
        "int32": "INTEGER", "int64": "BIGINT", "float32": "FLOAT", "float64": "DOUBLE",
        "string": "VARCHAR", "bool": "BOOLEAN",
    }.get(dtype.kind)  # fmt: skip


def sample_served(log_root: Path, table: ViewTable, *, sample: int, seed: int = 0) -> pa.Table:
    """A sample of served rows of one view version: join keys, ``served_at``, and the
    served value of every comparable feature (typed; null where not served)."""
    import duckdb
    import pyarrow as pa

    ref = f"{table.view}@v{table.version}"
    features = [(name, dtype) for name, dtype in table.features if _sql_type(dtype)]
    # Per layout that read the view version: feature -> its output column there.
    layouts: list[tuple[list[str], dict[str, str]]] = []
    for stored in find_layouts(log_root):
        layout = stored.layout
        if ref not in layout.views:
            continue
        index = layout.views.index(ref)
        outputs = {out: view for out, _, view in layout.features}
        found = {
            name: out
            for name, _ in features
            for out in (name, f"{table.view}__{name}")
            if outputs.get(out) == index
        }
        files = stored.files()
        if files:
            layouts.append((files, found))
    # Only features every layout served: elsewhere "not served" is not a null.
    features = [(n, t) for n, t in features if layouts and all(n in f for _, f in layouts)]
    if not layouts:
        return pa.table({})
    keys = ", ".join(
        f"TRY_CAST(entity.{quote(k)} AS {_sql_type(t) or 'VARCHAR'}) AS {quote(k)}"
        for k, t in table.join_keys
    )
    parts, params = [], {}
    for position, (files, found) in enumerate(layouts):
        columns = "".join(
            f", TRY_CAST(features.{quote(found[n])} AS {_sql_type(t)}) AS {quote(n)}"
            for n, t in features
        )
        parts.append(f"SELECT {keys}, served_at{columns} FROM read_parquet($files{position})")
        params[f"files{position}"] = files
    query = (
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) "
        f"USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({int(seed)})"
    )
    with duckdb.connect() as con:
        served: pa.Table = con.sql(query, params=params).to_arrow_table()
    return served


def audit_served(
    engine: OfflineEngine,
    spec: ViewReadSpec,
    table: ViewTable,
    log_root: Path,
    *,
    sample: int = 1000,
    max_mismatch_rate: float = 0.0,
    policy: InconsistencyPolicy = InconsistencyPolicy.ALERT,
    seed: int = 0,
    max_examples: int = 5,
) -> AuditReport:
    """Audit one view version on a sample of the requests the server actually answered."""
    import pyarrow as pa
    import pyarrow.compute as pc

    at = datetime.now(UTC)
    served = sample_served(log_root, table, sample=sample, seed=seed)
    key_names = list(table.join_key_names)
    if served.num_rows == 0:
        return AuditReport(uuid.uuid4().hex, table.view, table.version, at, "request_log", 0,
                           0, max_mismatch_rate, policy, ())  # fmt: skip
    entity = served.select(key_names).append_column(
        "event_timestamp", served.column("served_at").cast(pa.timestamp("us", tz="UTC"))
    )
    offline = engine.get_historical_features(entity, [spec], point_in_time="available").to_arrow()
    features, examples = [], list[str]()
    any_disagree = pa.array([False] * served.num_rows)
    for name in served.column_names[len(key_names) + 1 :]:
        result, disagree = compare_columns(name, served.column(name), offline.column(name))
        features.append(result)
        any_disagree = pc.or_(any_disagree, disagree)
        for index in pc.indices_nonzero(disagree).to_pylist()[: max_examples - len(examples)]:
            key = {k: served.column(k)[index].as_py() for k in key_names}
            examples.append(
                f"{key} at {served.column('served_at')[index].as_py().isoformat()} {name}: "
                f"served {served.column(name)[index].as_py()!r} != offline "
                f"{offline.column(name)[index].as_py()!r}"
            )
    return AuditReport(
        audit_id=uuid.uuid4().hex,
        view=table.view,
        version=table.version,
        at=at,
        source="request_log",
        sampled=served.num_rows,
        disagreeing=int(pc.sum(any_disagree).as_py() or 0),
        max_mismatch_rate=max_mismatch_rate,
        policy=policy,
        features=tuple(features),
        examples=tuple(examples),
    )
