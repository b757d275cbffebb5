"""Consistency of real served requests: what the server answered against what the offline
store says it should have answered at that instant.

From the request log (see :mod:`parity.monitor.served`) a uniform sample of the rows that
read a view version (``view_versions`` contains ``view@vN``); each row's entity key and
``served_at`` become an entity frame; the offline point-in-time values at ``served_at``
(with the view's ttl, and ``point_in_time="available"``: only rows already written then)
are compared feature by feature with the served values, exactly as the online auditor
does. A served value may be missing because the sync had not published it yet: such
differences are real (the model saw them), and ``parity status`` tells lag apart.

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


def _value(item: str, dtype: DType) -> str:
    sql = _sql_type(dtype)
    if dtype.kind == "string":
        return f"({item} ->> '$')"
    return f"TRY_CAST({item} AS {sql})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sample_served(log_root: Path, table: ViewTable, *, sample: int, seed: int = 0) -> pa.Table:
    """A sample of served rows of one view version: join keys, ``served_at``, and the
    served value of every comparable feature (typed; null where not served)."""
    import duckdb
    import pyarrow as pa

    ref = f"{table.view}@v{table.version}"
    files = str(log_root / "**" / "*.parquet")
    features = [(name, dtype) for name, dtype in table.features if _sql_type(dtype)]
    with duckdb.connect() as con:
        rows = con.sql(
            "SELECT served_at, entity_key, feature_names, values "
            "FROM read_parquet($files, hive_partitioning = true, union_by_name = true) "
            "WHERE list_contains(view_versions, $ref) "
            f"USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({int(seed)})",
            params={"files": files, "ref": ref},
        ).to_arrow_table()
        con.register("sampled", rows)
        layouts = con.sql("SELECT DISTINCT feature_names FROM sampled").fetchall()
        keys = [
            f'TRY_CAST(entity_key ->> {_literal("$." + k)} AS {_sql_type(t) or "VARCHAR"}) AS "{k}"'
            for k, t in table.join_keys
        ]

        def output(name: str, names: list[str]) -> str | None:
            return next((o for o in (name, f"{table.view}__{name}") if o in names), None)

        # Only features every sampled layout served: elsewhere "not served" is not a null.
        features = [
            (name, dtype)
            for name, dtype in features
            if layouts and all(output(name, names) for (names,) in layouts)
        ]
        parts = []
        for (names,) in layouts:
            columns = []
            for name, dtype in features:
                position = names.index(output(name, names)) + 1
                value = _value(f"v[{position}]", dtype)
                columns.append(f'{value}::{_sql_type(dtype)} AS "{name}"')
            layout = "[" + ", ".join(_literal(n) for n in names) + "]::VARCHAR[]"
            parts.append(
                f"SELECT {', '.join(keys)}, served_at, {', '.join(columns)} FROM "
                f"(SELECT *, json_transform(values, '[\"JSON\"]') AS v FROM sampled "
                f"WHERE feature_names = {layout})"
            )
        if not parts:
            return pa.table({})
        served: pa.Table = con.sql(" UNION ALL ".join(parts)).to_arrow_table()
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
