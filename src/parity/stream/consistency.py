"""Online (stream) values against offline point-in-time values, exactly.

Two checks, both behind ``parity verify-consistency VIEW`` (:func:`verify_stream_view`):

- :func:`replay_and_compare`: replay the view's raw event log (the offline table the
  processor appends to) through the stream processor's state, in event-time order with
  expiry timers, stop at several instants, and compare sampled entities' values at their
  ``as_of`` with the offline engine's point-in-time values at the same instants.
- :func:`online_against_offline`: read sampled entities from the online store and compare
  each value with the offline value at the instant it was computed for (its event
  timestamp).

Floats match within 1e-9 relative; everything else exactly.

Example:
    >>> values_match(0.1 + 0.2, 0.3), values_match(1, 1.0), values_match(None, 0)
    (True, False, False)
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from parity.offline.aggregations import events_spec
from parity.online.base import ReadRequest
from parity.storage import ObjectStorage
from parity.stream.state import WindowState

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from parity.definitions import FeatureView
    from parity.offline.base import OfflineEngine, ViewReadSpec
    from parity.online.base import OnlineStore, ViewTable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Probe = tuple[tuple[Any, ...], int, tuple[Any, ...]]


def values_match(left: Any, right: Any) -> bool:
    """Exact, except floats within 1e-9 relative (summation order differs)."""
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    return type(left) is type(right) and left == right


@dataclass(frozen=True)
class ConsistencyReport:
    """How many (entity, instant) pairs were compared and which differed.

    Example:
        >>> ConsistencyReport(compared=10, mismatches=0).ok
        True
    """

    compared: int
    mismatches: int
    examples: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every compared value matched."""
        return self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "compared": self.compared,
            "mismatches": self.mismatches,
            "examples": list(self.examples),
        }


def _compare(
    engine: OfflineEngine, spec: ViewReadSpec, probes: Sequence[Probe], names: Sequence[str]
) -> ConsistencyReport:
    import pyarrow as pa

    if not probes:
        return ConsistencyReport(0, 0)
    columns: dict[str, Any] = {
        k.name: pa.array([p[0][n] for p in probes], k.dtype.to_arrow())
        for n, k in enumerate(spec.join_keys)
    }
    columns["event_timestamp"] = pa.array([p[1] for p in probes], pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    offline = engine.get_historical_features(pa.table(columns), [spec]).to_arrow().to_pylist()
    mismatches, examples = 0, list[str]()
    for (key, at, values), row in zip(probes, offline, strict=True):
        for name, value in zip(names, values, strict=True):
            if not values_match(value, row[name]):
                mismatches += 1
                if len(examples) < 5:
                    when = (_EPOCH + timedelta(microseconds=at)).isoformat()
                    examples.append(
                        f"{key} at {when} {name}: online {value!r} != offline {row[name]!r}"
                    )
                break
    return ConsistencyReport(len(probes), mismatches, tuple(examples))


def read_event_log(spec: ViewReadSpec) -> pa.Table:
    """The raw events of an aggregation spec, ordered by event time (then key)."""
    import duckdb

    from parity.offline.changes import source_rows_query
    from parity.offline.source_scan import open_source, register_source

    raw = events_spec(spec)
    if spec.source.op_field is not None:  # CDC-fed: the retraction marks come along
        from parity.offline.base import FeatureColumn
        from parity.types import String

        op = FeatureColumn(spec.source.op_field, spec.source.op_field, String)
        raw = dataclasses.replace(raw, features=(*raw.features, op))
    scan = open_source(raw)
    with duckdb.connect(":memory:") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        register_source(conn, scan, "__parity_source")
        query = source_rows_query(raw, "__parity_source", bounds={})
        table: pa.Table = conn.sql(
            f"SELECT * FROM ({query}) ORDER BY event_timestamp"
        ).to_arrow_table()
    return table


def replay_and_compare(
    engine: OfflineEngine,
    spec: ViewReadSpec,
    *,
    instants: int = 5,
    samples: int = 200,
    seed: int = 0,
) -> ConsistencyReport:
    """Replay the event log through the processor's state; compare at ``instants`` stops.

    Example:
        >>> replay_and_compare(engine, spec, instants=3, samples=50).ok  # doctest: +SKIP
        True
    """
    import pyarrow as pa

    log = read_event_log(spec)
    keys = list(zip(*(log.column(k.name).to_pylist() for k in spec.join_keys), strict=True))
    times = log.column("event_timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    times_us = times.to_pylist()
    inputs = [log.column(a.column).to_pylist() for a in _inputs(spec)]
    state = WindowState(spec.aggregations, allowed_lateness_us=2**62)
    rng = random.Random(seed)
    per_stop = max(1, samples // max(instants, 1))
    stops = {len(keys) * (n + 1) // instants for n in range(instants)}
    probes: list[Probe] = []
    ops = (
        log.column(spec.source.op_field).to_pylist()
        if spec.source.op_field is not None
        else [None] * len(keys)
    )
    stop_due = False
    for n, key in enumerate(keys):
        if ops[n] == "d":
            state.retract(tuple(key), times_us[n], f"log:{n}")
        else:
            state.apply(tuple(key), times_us[n], f"log:{n}", tuple(c[n] for c in inputs))
        stop_due = stop_due or n + 1 in stops
        # Stop only after the last event of a run of equal event times: the offline side
        # counts every event at an instant, so a stop inside the run would compare half of
        # them with all of them.
        if stop_due and (n + 1 == len(keys) or times_us[n + 1] != times_us[n]):
            stop_due = False
            state.due(times_us[n])
            chosen = rng.sample(sorted(state.entities), k=min(per_stop, len(state.entities)))
            probes += [(k, state.entities[k].as_of, state.values(k)) for k in chosen]
    names = [a.name for a in spec.aggregations]
    return _compare(engine, spec, probes, names)


def _inputs(spec: ViewReadSpec) -> list[Any]:
    seen: dict[str, Any] = {}
    for agg in spec.aggregations:
        seen.setdefault(agg.column, agg)
    return list(seen.values())


def online_against_offline(
    engine: OfflineEngine,
    online: OnlineStore,
    spec: ViewReadSpec,
    table: ViewTable,
    keys: Sequence[tuple[Any, ...]],
) -> ConsistencyReport:
    """Compare the online values of ``keys`` with the offline values at their own instants.

    Example:
        >>> online_against_offline(engine, online, spec, table, [(1,), (2,)]).ok  # doctest: +SKIP
        True
    """
    [rows] = online.read([ReadRequest(table, list(keys))])
    probes = [(key, row.event_us, row.values) for key, row in zip(keys, rows, strict=True) if row]
    return _compare(engine, spec, probes, table.feature_names)


@dataclass(frozen=True)
class StreamConsistency:
    """Both checks of one aggregation view version: the replay of its event log and, when
    the online store can list its entities, the online values.

    Example:
        >>> StreamConsistency("txn_stats@v1", ConsistencyReport(compared=3, mismatches=0)).ok
        True
    """

    ref: str
    replay: ConsistencyReport
    online: ConsistencyReport | None = None

    @property
    def ok(self) -> bool:
        """True when no compared value differs."""
        parts = [self.replay] if self.online is None else [self.replay, self.online]
        return all(part.mismatches == 0 for part in parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``parity verify-consistency --json``)."""
        data: dict[str, Any] = {"view": self.ref, "replay": self.replay.to_dict()}
        if self.online is not None:
            data["online"] = self.online.to_dict()
        data["ok"] = self.ok
        return data


def verify_stream_view(
    view: FeatureView,
    /,
    *,
    version: int,
    project: str,
    repo_root: Path,
    storage: ObjectStorage | None = None,
    engine: OfflineEngine,
    online: OnlineStore,
    instants: int = 5,
    samples: int = 200,
) -> StreamConsistency:
    """:func:`replay_and_compare`, then :func:`online_against_offline` on up to
    ``samples`` entities the online store holds (stores that can scan them).

    Example:
        >>> verify_stream_view(view, version=1, project="shop", repo_root=repo,
        ...                    engine=engine, online=online).ok  # doctest: +SKIP
        True
    """
    from parity.errors import DefinitionError
    from parity.offline.base import ViewReadSpec
    from parity.online.base import ScansEntities, ViewTable

    ref = f"{view.name}@v{version}"
    if not view.aggregations:
        raise DefinitionError(f"{ref} has no aggregations; nothing to verify here.")
    spec = ViewReadSpec.from_view(view, version=version, repo_root=repo_root, storage=storage)
    replayed = replay_and_compare(engine, spec, instants=instants, samples=samples)
    if not isinstance(online, ScansEntities):
        return StreamConsistency(ref, replayed)
    table = ViewTable.from_view(view, project=project, version=version)
    keys: list[tuple[Any, ...]] = []
    for batch in online.scan(table):
        columns = [batch.column(k).to_pylist() for k in table.join_key_names]
        keys += list(zip(*columns, strict=True))
        if len(keys) >= samples:
            break
    live = online_against_offline(engine, online, spec, table, keys[:samples])
    return StreamConsistency(ref, replayed, live)
