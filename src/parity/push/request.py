"""What a push asks for and what it answers: :class:`PushRequest`, :class:`PushResult`.

A push body is checked the same way whichever way it arrives (``POST /push`` or
``FeatureStore.push``): parity's row-wise ``rows`` or Feast's column-wise ``df``, a push
mode, an optional ``push_id``. :func:`check_fields` and :func:`parse_timestamp` are the
body checks the HTTP adapter shares for its other endpoints.

Example:
    >>> parse_push_request({"push_source_name": "s", "rows": [{"a": 1}]}, max_rows=9).to
    'online_and_offline'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from parity.errors import BadRequest, RequestTooLarge, did_you_mean
from parity.push.ledger import check_push_id

PushMode = Literal["online", "offline", "online_and_offline"]
_MODES: tuple[str, ...] = ("online", "offline", "online_and_offline")
_KEYS = frozenset(
    {
        "push_source_name",
        "rows",
        "df",
        "to",
        "push_id",
        "allow_registry_cache",
        "transform_on_write",
        "ignore_unknown_columns",
    }
)


@dataclass(frozen=True)
class PushRequest:
    """A parsed ``/push`` body; ``push_id`` None means "generate one".

    Example:
        >>> PushRequest("txn_push", [{"user_id": 1}], "online", push_id="p1").push_id
        'p1'
    """

    push_source_name: str
    rows: list[dict[str, Any]]
    to: PushMode
    push_id: str | None = None
    # Drop columns no view reads instead of refusing the push (422).
    ignore_unknown_columns: bool = False


@dataclass(frozen=True)
class PushResult:
    """What a push did; ``rejected`` holds ``{"row", "view", "reason"}`` per failed check.

    ``streams`` counts the events published per stream (aggregation views, see
    :mod:`parity.push.publish`). ``replayed`` is True when this push id had been seen
    before: either the answer of the completed first attempt, returned as it was, or a
    retry that finished an interrupted one.

    Example:
        >>> PushResult("txn_push", 2, 2, 0, push_id="p1").to_dict()["push_id"]
        'p1'
    """

    push_source: str
    rows_received: int
    rows_written: int
    rows_rejected: int
    rejected: list[dict[str, Any]] = field(default_factory=list)
    online: dict[str, dict[str, int]] = field(default_factory=dict)
    offline: dict[str, Any] | None = None
    push_id: str = ""
    replayed: bool = False
    streams: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        return {
            "push_id": self.push_id,
            "push_source_name": self.push_source,
            "rows_received": self.rows_received,
            "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected,
            "rejected": self.rejected,
            "online": self.online,
            "offline": self.offline,
            "replayed": self.replayed,
            "streams": self.streams,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, replayed: bool) -> PushResult:
        """The result a :meth:`to_dict` answer describes (a recorded answer, replayed)."""
        return cls(
            push_source=data["push_source_name"],
            rows_received=data["rows_received"],
            rows_written=data["rows_written"],
            rows_rejected=data["rows_rejected"],
            rejected=data["rejected"],
            online=data["online"],
            offline=data["offline"],
            push_id=data["push_id"],
            replayed=replayed,
            streams=data.get("streams", {}),
        )


def check_fields(data: Mapping[str, Any], allowed: frozenset[str], endpoint: str) -> None:
    """Refuse unknown top-level fields, with a "did you mean".

    Example:
        >>> try:
        ...     check_fields({"feature_servce": "x"}, frozenset({"feature_service"}), "/x")
        ... except BadRequest as exc:
        ...     print(str(exc).split(" Fields")[0])
        /x: unknown field 'feature_servce'. Did you mean 'feature_service'?
    """
    for key in data:
        if key not in allowed:
            raise BadRequest(
                f"{endpoint}: unknown field {key!r}.{did_you_mean(key, allowed)} "
                f"Fields: {', '.join(sorted(allowed))}."
            )


def parse_timestamp(value: Any, *, what: str) -> datetime:
    """An ISO 8601 string with a UTC offset (``Z`` allowed) as an aware datetime.

    Example:
        >>> parse_timestamp("2026-01-01T00:00:00Z", what="now").isoformat()
        '2026-01-01T00:00:00+00:00'
    """
    if not isinstance(value, str):
        raise BadRequest(f"{what}: expected an ISO 8601 timestamp string, got {value!r}.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{what}: {value!r} is not an ISO 8601 timestamp (e.g. '2026-01-01T12:00:00Z')."
        ) from None
    if parsed.tzinfo is None:
        raise BadRequest(
            f"{what}: {value!r} has no UTC offset. parity never guesses a time zone: add 'Z' "
            "or '+00:00'."
        )
    return parsed


def parse_push_request(data: Mapping[str, Any], *, max_rows: int) -> PushRequest:
    """Check a ``/push`` body: parity's ``rows`` (row-wise) or Feast's ``df`` (column-wise).

    Example:
        >>> parse_push_request({"push_source_name": "s", "rows": [{"a": 1}]}, max_rows=9).to
        'online_and_offline'
    """
    check_fields(data, _KEYS, "/push")
    name = data.get("push_source_name")
    if not isinstance(name, str) or not name:
        raise BadRequest('/push: "push_source_name" (a non-empty string) is required.')
    to = data.get("to", "online_and_offline")
    if to not in _MODES:
        raise BadRequest(
            f'/push: "to" {to!r} is not a push mode.{did_you_mean(str(to), _MODES)} '
            f"Use one of {', '.join(_MODES)}."
        )
    rows, df = data.get("rows"), data.get("df")
    if (rows is None) == (df is None):
        raise BadRequest(
            '/push: send the rows either as "rows": [{...}, ...] or column-wise as '
            '"df": {"column": [...]}, exactly one of them.'
        )
    if rows is not None:
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRequest('/push: "rows" must be a list of objects.')
    else:
        if not isinstance(df, dict) or not all(isinstance(v, list) for v in df.values()):
            raise BadRequest('/push: "df" must map each column name to a list of values.')
        lengths = {k: len(v) for k, v in df.items()}
        if len(set(lengths.values())) > 1:
            raise BadRequest(f'/push: the "df" columns differ in length ({lengths}).')
        names = list(df)
        rows = [dict(zip(names, vals, strict=True)) for vals in zip(*df.values(), strict=True)]
    if not rows:
        raise BadRequest("/push: no rows given.")
    if len(rows) > max_rows:
        raise RequestTooLarge(
            f"/push: {len(rows)} rows in one request; the limit is {max_rows} "
            "(server.max_push_rows). Split the push."
        )
    push_id = data.get("push_id")
    ignore = data.get("ignore_unknown_columns", False)
    if not isinstance(ignore, bool):
        raise BadRequest(f'/push: "ignore_unknown_columns" must be true or false, got {ignore!r}.')
    return PushRequest(
        name,
        rows,
        to,
        None if push_id is None else check_push_id(push_id),
        ignore_unknown_columns=ignore,
    )
