"""Where a push source's rows go: every live view version it feeds, and its Delta table.

A :class:`PushPlan` is resolved from a registry snapshot (once per registry cache period
in the server); :func:`rows_to_table` turns the pushed rows into one Arrow table in
canonical column names, the input of validation and of every write.

Example:
    >>> plan = resolve_push_plan(snapshot, "txn_push", repo_root=root)  # doctest: +SKIP
    >>> [t.ref for t in plan.targets]  # doctest: +SKIP
    ['txn_last@v1']
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from parity.definitions import FeatureView, PushSource
from parity.errors import BadRequest, PushSourceNotFound, SchemaMismatch, did_you_mean
from parity.offline.base import ViewReadSpec
from parity.online.base import ViewTable
from parity.online.entity_keys import check_key_value
from parity.push.request import parse_timestamp
from parity.registry import ObjectKind, RegistrySnapshot, VersionState
from parity.storage import ObjectStorage
from parity.sync.validate import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from parity.types import DType

if TYPE_CHECKING:
    import pyarrow as pa

ROW = "__parity_push_row"
"""The column :func:`rows_to_table` adds: each row's index in the request."""
_LIVE = (VersionState.PENDING, VersionState.SERVING)


@dataclass(frozen=True)
class PushTarget:
    """One live view version a push writes to.

    Example:
        >>> plan.targets[0].ref  # doctest: +SKIP
        'txn_last@v1'
    """

    view: FeatureView
    version: int
    table: ViewTable

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return f"{self.view.name}@v{self.version}"

    @property
    def aggregates(self) -> bool:
        """True for an aggregation view: its values come from the stream processor."""
        return bool(self.view.aggregations)


@dataclass(frozen=True)
class PushPlan:
    """Where a push source's rows go, resolved once per registry cache period.

    ``renames`` maps batch source column names to canonical ones.

    Example:
        >>> plan.offline.source.path  # doctest: +SKIP
        'data/txn_events'
    """

    source: PushSource
    targets: tuple[PushTarget, ...]
    offline: ViewReadSpec
    renames: Mapping[str, str]


def resolve_push_plan(
    snapshot: RegistrySnapshot,
    push_source_name: str,
    *,
    repo_root: Path,
    storage: ObjectStorage | None = None,
) -> PushPlan:
    """Every live view version fed by ``push_source_name``, and the offline append target.

    Example:
        >>> resolve_push_plan(snapshot, "txn_push", repo_root=root).source.name  # doctest: +SKIP
        'txn_push'
    """
    targets: list[PushTarget] = []
    known: set[str] = set()
    source: PushSource | None = None
    for (kind, _), records in sorted(snapshot.versions.items()):
        if kind is not ObjectKind.FEATURE_VIEW:
            continue
        for record in records:
            spec_source = record.spec.get("source", {})
            if spec_source.get("type") != "push":
                continue
            known.add(spec_source["name"])
            if spec_source["name"] != push_source_name or record.state not in _LIVE:
                continue
            view = FeatureView.from_dict(record.spec)
            assert isinstance(view.source, PushSource)
            source = view.source
            table = ViewTable.from_view(view, project=snapshot.project, version=record.version)
            targets.append(PushTarget(view, record.version, table))
    if source is None:
        if push_source_name in known:
            raise PushSourceNotFound(
                f"Push source {push_source_name!r} feeds no pending or serving view version; "
                "apply or promote a view that reads from it."
            )
        raise PushSourceNotFound(
            f"Unknown push source {push_source_name!r}.{did_you_mean(push_source_name, known)}"
            f" Push sources: {', '.join(sorted(known)) or 'none'}."
        )
    newest = max(targets, key=lambda t: t.version)
    offline = ViewReadSpec.from_view(
        newest.view, version=newest.version, repo_root=repo_root, storage=storage
    )
    batch = source.batch_source
    renames = {batch.timestamp_field: EVENT_TIMESTAMP}
    if batch.created_timestamp_field is not None:
        renames[batch.created_timestamp_field] = CREATED_TIMESTAMP
    renames.update(batch.field_mapping)
    return PushPlan(source, tuple(targets), offline, renames)


def _column(name: str, values: list[Any], kind: str | None) -> pa.Array:
    import pyarrow as pa

    if kind == "timestamp":
        return pa.array(
            [None if v is None else parse_timestamp(v, what=f"column {name!r}") for v in values],
            pa.timestamp("us", tz="UTC"),
        )
    if kind == "bytes":
        try:
            decoded = [None if v is None else base64.b64decode(v, validate=True) for v in values]
        except (TypeError, ValueError):
            raise BadRequest(
                f"/push: column {name!r} holds bytes; send them base64-encoded."
            ) from None
        return pa.array(decoded, pa.binary())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # Mixed JSON types, or integers past 64 bits: as text, so validation casts each
        # value and names the bad ones (a rejected row, never a 500).
        return pa.array(
            [None if v is None else v if isinstance(v, str) else _as_text(v) for v in values],
            pa.string(),
        )


def _columns(plan: PushPlan) -> tuple[dict[str, str], set[str]]:
    """Canonical column -> dtype kind of every view column, and aggregation inputs."""
    kinds: dict[str, str] = {EVENT_TIMESTAMP: "timestamp", CREATED_TIMESTAMP: "timestamp"}
    inputs: set[str] = set()
    for target in plan.targets:
        for name, dtype in (*target.table.join_keys, *target.table.features):
            kinds[name] = dtype.kind
        inputs.update(aggregation.column for aggregation in target.view.aggregations)
    return kinds, inputs


def _names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def unknown_columns(plan: PushPlan, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The pushed columns no view of the push source reads, in order of appearance.

    Example:
        >>> unknown_columns(plan, [{"user_id": 1, "amout": 2.0}])  # doctest: +SKIP
        ['amout']
    """
    kinds, inputs = _columns(plan)
    return [raw for raw in _names(rows) if plan.renames.get(raw, raw) not in kinds.keys() | inputs]


def refuse_unknown_columns(plan: PushPlan, rows: Sequence[Mapping[str, Any]]) -> None:
    """``SchemaMismatch`` (422) naming every column no view reads, with "did you mean":
    a misspelt feature must not be dropped silently.

    Example:
        >>> refuse_unknown_columns(plan, [{"user_id": 1}])  # doctest: +SKIP
    """
    unknown = unknown_columns(plan, rows)
    if not unknown:
        return
    kinds, inputs = _columns(plan)
    known = sorted({*plan.renames, *kinds, *inputs} - set(plan.renames.values()))
    hints = "".join(did_you_mean(name, known) for name in unknown)
    raise SchemaMismatch(
        f"/push to {plan.source.name!r}: unknown column(s) {', '.join(map(repr, unknown))}; "
        f"no view it feeds reads them.{hints} Columns: {', '.join(known)}. Remove them, or "
        'send "ignore_unknown_columns": true to drop them.'
    )


def _as_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits
        return str(value)


def rows_to_table(plan: PushPlan, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> pa.Table:
    """The pushed rows as an Arrow table in canonical column names, plus a row number;
    columns no view reads are left out (:func:`refuse_unknown_columns` runs first).

    Example:
        >>> rows_to_table(plan, [{"user_id": 1}], now=now).column_names  # doctest: +SKIP
        ['user_id', 'created_timestamp', '__parity_push_row']
    """
    import pyarrow as pa

    kinds, inputs = _columns(plan)
    keys: dict[str, DType] = {}
    for target in plan.targets:
        keys.update(target.table.join_keys)
    renamed = {raw: plan.renames.get(raw, raw) for row in rows for raw in row}
    for index, row in enumerate(rows):
        for raw, value in row.items():
            key_type = keys.get(renamed[raw])
            if key_type is not None:
                # The same typed key rule as reads: no coercion of true, "0x10" or 5.0.
                check_key_value(raw, key_type, value, where=f"/push row {index}")
    names = [raw for raw in _names(rows) if plan.renames.get(raw, raw) in kinds.keys() | inputs]
    columns: dict[str, pa.Array] = {}
    for raw in names:
        name = plan.renames.get(raw, raw)
        columns[name] = _column(name, [row.get(raw) for row in rows], kinds.get(name))
    if CREATED_TIMESTAMP not in columns:
        columns[CREATED_TIMESTAMP] = pa.array([now] * len(rows), pa.timestamp("us", tz="UTC"))
    columns[ROW] = pa.array(range(len(rows)), pa.int64())
    return pa.table(columns)
