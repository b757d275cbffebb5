"""Reading feature vectors from the online store: values, statuses, timestamps, ages.

The ttl is enforced online exactly as offline: a value whose event time is older than
``now - ttl`` is served as null with status ``outside_max_age`` (and its age), never as
present. A value at exactly ``now - ttl`` is still valid.

A service's row transforms run last, once per request for all its rows, on the values
just read and the request fields of the entity rows (:mod:`parity.retrieval.transforms`).

Example:
    >>> FeatureStatus.OUTSIDE_MAX_AGE.value
    'outside_max_age'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from parity.errors import SchemaMismatch
from parity.online.base import OnlineStore, ReadRequest
from parity.retrieval.resolve import ServingPlan, ViewRead

if TYPE_CHECKING:
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


class FeatureStatus(enum.StrEnum):
    """Why a served value is what it is."""

    # A valid value.
    PRESENT = "present"
    # The entity has an online row, but this feature is null in it.
    NULL_VALUE = "null_value"
    # No online value for this entity in this view version.
    NOT_FOUND = "not_found"
    # The newest value is older than now - ttl: served as null.
    OUTSIDE_MAX_AGE = "outside_max_age"
    # Not read before the request's deadline (feature server): served as null.
    DEADLINE_EXCEEDED = "deadline_exceeded"


@dataclass(frozen=True)
class OnlineResponse:
    """Feature vectors for a list of entity rows, columns in canonical order.

    Example:
        >>> from datetime import datetime, timezone
        >>> at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> ok = FeatureStatus.PRESENT
        >>> response = OnlineResponse(("spend", "country"), ("user_id",), [{"user_id": 7}],
        ...                           [[12.5, "DE"]], [[ok, ok]], [[at, at]], served_at=at)
        >>> response.to_vector(), response.to_dict()
        ([[12.5, 'DE']], {'user_id': [7], 'spend': [12.5], 'country': ['DE']})
    """

    feature_names: tuple[str, ...]
    join_keys: tuple[str, ...]
    entity_rows: Sequence[Mapping[str, Any]]
    values: list[list[Any]]
    statuses: list[list[FeatureStatus]]
    event_timestamps: list[list[datetime | None]]
    served_at: datetime
    service: str | None = None
    service_version: int | None = None
    _plan: ServingPlan | None = None

    def to_vector(self) -> list[list[Any]]:
        """One list per entity row, in exactly the training column order."""
        return [list(row) for row in self.values]

    def ages(self) -> list[list[float | None]]:
        """Seconds between each value's event time and the moment it was served."""
        return [
            [None if ts is None else (self.served_at - ts).total_seconds() for ts in row]
            for row in self.event_timestamps
        ]

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns: the join keys, then the features (Feast's ``to_dict`` shape)."""
        out: dict[str, list[Any]] = {
            k: [row.get(k) for row in self.entity_rows] for k in self.join_keys
        }
        for j, name in enumerate(self.feature_names):
            out[name] = [row[j] for row in self.values]
        return out

    def to_arrow(self) -> pa.Table:
        """A typed Arrow table: join keys, then features with their declared dtypes."""
        import pyarrow as pa

        columns = {k: pa.array([row.get(k) for row in self.entity_rows]) for k in self.join_keys}
        dtypes = (
            self._plan.output_dtypes
            if self._plan is not None
            else (None,) * len(self.feature_names)
        )
        for j, (name, dtype) in enumerate(zip(self.feature_names, dtypes, strict=True)):
            arrow_type = None if dtype is None else dtype.to_arrow()
            columns[name] = pa.array([row[j] for row in self.values], type=arrow_type)
        return pa.table(columns)


def _keys(
    plan: ServingPlan, entity_rows: Sequence[Mapping[str, Any]]
) -> list[list[tuple[Any, ...]]]:
    """Per read, the key tuples of ``entity_rows``; reads with the same join keys share one list."""
    out: list[list[tuple[Any, ...]]] = []
    built: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for read in plan.reads:
        names = read.key_names
        keys = built.get(names)
        if keys is None:
            try:
                if len(names) == 1:
                    (name,) = names
                    keys = [(row[name],) for row in entity_rows]
                else:
                    keys = [tuple([row[n] for n in names]) for row in entity_rows]
            except (KeyError, TypeError):
                _explain_bad_row(read, entity_rows)
                raise
            built[names] = keys
        out.append(keys)
    return out


def _explain_bad_row(read: ViewRead, entity_rows: Sequence[Mapping[str, Any]]) -> None:
    """Raise the error that names the first entity row lacking one of ``read``'s keys."""
    names = read.key_names
    for index, row in enumerate(entity_rows):
        try:
            tuple(row[name] for name in names)
        except KeyError as exc:
            raise SchemaMismatch(
                f"entity_rows[{index}] has no join key {exc.args[0]!r} (needed by "
                f"{read.table.view}@v{read.table.version}); it has {sorted(row)}. Add the key "
                "to every entity row."
            ) from None
        except TypeError:
            raise SchemaMismatch(
                f"entity_rows[{index}] must be a mapping of join key -> value, got {row!r}."
            ) from None


def read_online(
    store: OnlineStore,
    plan: ServingPlan,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
) -> OnlineResponse:
    """Read every view of ``plan`` for ``entity_rows`` in one backend call, then transform."""
    requests = [
        ReadRequest(read.table, keys)
        for read, keys in zip(plan.reads, _keys(plan, entity_rows), strict=True)
    ]
    results = store.read(requests)
    width = len(plan.output_names)
    count = len(entity_rows)
    values: list[list[Any]] = [[None] * width for _ in range(count)]
    statuses = [[FeatureStatus.NOT_FOUND] * width for _ in range(count)]
    stamps: list[list[datetime | None]] = [[None] * width for _ in range(count)]
    present, null_value = FeatureStatus.PRESENT, FeatureStatus.NULL_VALUE
    outside = FeatureStatus.OUTSIDE_MAX_AGE
    for read, rows in zip(plan.reads, results, strict=True):
        limit = None if read.ttl is None else now - read.ttl
        cutoff: int | None = None  # ``limit`` in microseconds, at the first row found
        pairs = tuple(zip(read.positions, read.outputs, strict=True))
        width_k = len(pairs)
        lo = read.span
        hi = lo + width_k
        select, needed = read.select, read.needed
        all_present = (present,) * width_k
        all_outside = (outside,) * width_k
        for i, row in enumerate(rows):
            if row is None:
                continue
            event = row.event_timestamp
            if cutoff is None and limit is not None:
                cutoff = (limit - _EPOCH) // _ONE_US
            # Integer microseconds: exactly ``event < now - ttl``.
            if cutoff is not None and row.event_us < cutoff:
                if lo >= 0:
                    statuses[i][lo:hi] = all_outside
                    stamps[i][lo:hi] = (event,) * width_k
                    continue
                row_status, row_stamps = statuses[i], stamps[i]
                for _, out in pairs:
                    row_status[out] = outside
                    row_stamps[out] = event
                continue
            stored = row.values
            if lo >= 0 and len(stored) >= needed:
                selected = select(stored)
                values[i][lo:hi] = selected
                stamps[i][lo:hi] = (event,) * width_k
                statuses[i][lo:hi] = (
                    all_present
                    if None not in selected
                    else [null_value if v is None else present for v in selected]
                )
                continue
            row_status, row_stamps, row_values = statuses[i], stamps[i], values[i]
            for pos, out in pairs:
                # A nullable feature appended by a compatible change reads as null from older rows.
                value = stored[pos] if pos < len(stored) else None
                row_values[out] = value
                row_stamps[out] = event
                row_status[out] = present if value is not None else null_value
    if plan.transforms is not None:
        plan.transforms.apply_online(
            entity_rows, values, statuses, stamps, present=present, null_value=null_value
        )
    return OnlineResponse(
        feature_names=plan.output_names,
        join_keys=plan.join_keys,
        entity_rows=entity_rows,
        values=values,
        statuses=statuses,
        event_timestamps=stamps,
        served_at=now,
        service=plan.service,
        service_version=plan.service_version,
        _plan=plan,
    )
