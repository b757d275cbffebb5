"""The JSON of ``/get-online-features``: parity's row-wise shape and Feast's column-wise one.

A request names a feature service or a list of features and carries the entities either
row-wise (``"entity_rows": [{"user_id": 1}, ...]``, parity) or column-wise
(``"entities": {"user_id": [1, 2]}``, Feast). The answer has the shape of the request
unless ``"response_format"`` says otherwise:

- parity: ``{"request_id", "metadata": {...}, "results": [{"entity", "values", "statuses",
  "event_timestamps", "ages_seconds"}, ...]}``, one result per entity row, features in
  canonical order;
- Feast: ``{"metadata": {"feature_names": [join keys..., features...]}, "results": [{"values",
  "statuses", "event_timestamps"}, ...]}``, one result per column, statuses upper case, a
  missing timestamp as ``1970-01-01T00:00:00Z`` (what Feast's server returns).

Example:
    >>> body = b'{"feature_service": "fraud", "entities": {"user_id": [1, 2]}}'
    >>> req = parse_feature_request(body, max_entities=10)
    >>> req.entity_rows, req.response_format
    ([{'user_id': 1}, {'user_id': 2}], 'feast')
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from parity.errors import BadRequest, RequestTooLarge, did_you_mean
from parity.online.entity_keys import check_key_value
from parity.push.request import check_fields, parse_timestamp
from parity.retrieval.resolve import ServingPlan
from parity.retrieval.vectors import FeatureStatus, OnlineResponse

ResponseFormat = Literal["parity", "feast"]
_FORMATS = ("parity", "feast")
_KEYS = frozenset(
    {
        "feature_service",
        "features",
        "full_feature_names",
        "entities",
        "entity_rows",
        "deadline_ms",
        "now",
        "response_format",
        # Feast sends these; they change nothing here.
        "include_feature_view_version_metadata",
        "allow_registry_cache",
    }
)
FEAST_EPOCH = "1970-01-01T00:00:00Z"
_FEAST_STATUS = {
    FeatureStatus.PRESENT: "PRESENT",
    FeatureStatus.NULL_VALUE: "NULL_VALUE",
    FeatureStatus.NOT_FOUND: "NOT_FOUND",
    FeatureStatus.OUTSIDE_MAX_AGE: "OUTSIDE_MAX_AGE",
    # Feast has no such status; INVALID is the one its clients know for "no value".
    FeatureStatus.DEADLINE_EXCEEDED: "INVALID",
}
_DUMPS_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True)
class FeatureRequest:
    """A parsed ``/get-online-features`` request.

    Example:
        >>> FeatureRequest(None, ("v:f",), False, [{"id": 1}], "parity", None, None).features
        ('v:f',)
    """

    feature_service: str | None
    features: tuple[str, ...] | None
    full_feature_names: bool
    entity_rows: list[dict[str, Any]]
    response_format: ResponseFormat
    deadline_ms: float | None
    now: datetime | None


_LONG_NUMBER = re.compile(rb"\d{19}")


def loads_object(body: bytes, *, endpoint: str) -> dict[str, Any]:
    """``body`` as a JSON object, or :class:`BadRequest` naming the problem.

    Example:
        >>> loads_object(b'{"a": 1}', endpoint="/push")
        {'a': 1}
    """
    if not body:
        raise BadRequest(f"{endpoint}: the request body is empty; send a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{endpoint}: the request body is not valid JSON ({exc}).") from None
    if _LONG_NUMBER.search(body) is not None:
        # orjson reads an integer past 64 bits as a float, silently rounded (-2**63 - 1
        # would be stored as -2**63): read such bodies exactly, so the value is refused
        # by name instead. Bodies without a 19-digit number never pay for it.
        data = json.loads(body)
    if not isinstance(data, dict):
        raise BadRequest(f"{endpoint}: expected a JSON object, got a JSON {type(data).__name__}.")
    return data


def _entity_rows(data: Mapping[str, Any], max_entities: int) -> list[dict[str, Any]]:
    columns = data.get("entities")
    rows = data.get("entity_rows")
    if (columns is None) == (rows is None):
        raise BadRequest(
            "/get-online-features: send the entities either row-wise as "
            '"entity_rows": [{"user_id": 1}, ...] or column-wise as '
            '"entities": {"user_id": [1, 2]}, exactly one of them.'
        )
    if rows is not None:
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRequest(
                '/get-online-features: "entity_rows" must be a list of objects like {"user_id": 1}.'
            )
        count = len(rows)
    else:
        if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
            raise BadRequest(
                '/get-online-features: "entities" must map each join key to a list of '
                'values, e.g. {"user_id": [1, 2]}.'
            )
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise BadRequest(
                f'/get-online-features: the "entities" lists differ in length ({lengths}); '
                "every join key needs one value per entity."
            )
        count = next(iter(lengths.values()), 0)
    if count == 0:
        raise BadRequest("/get-online-features: no entities given; send at least one.")
    if count > max_entities:
        raise RequestTooLarge(
            f"/get-online-features: {count} entities in one request; the limit is "
            f"{max_entities} (server.max_entities). Split the request."
        )
    if rows is not None:
        return rows
    assert isinstance(columns, dict)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise BadRequest(
            f'/get-online-features: "{key}" must be a non-empty string, got {value!r}.'
        )
    return value


def parse_feature_request(body: bytes, *, max_entities: int) -> FeatureRequest:
    """Parse and check a ``/get-online-features`` body (either shape)."""
    data = loads_object(body, endpoint="/get-online-features")
    check_fields(data, _KEYS, "/get-online-features")
    service = _optional_str(data, "feature_service")
    features = data.get("features")
    if features is not None:
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise BadRequest(
                '/get-online-features: "features" must be a list of references like '
                '"user_stats:spend_7d".'
            )
        # Feast clients send "features": [] next to a feature service.
        features = tuple(features) if features else None
    if (service is None) == (features is None):
        raise BadRequest(
            '/get-online-features: name either a "feature_service" or a list of "features" '
            '(["view:feature", ...]), exactly one of them.'
        )
    full = data.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise BadRequest(
            f'/get-online-features: "full_feature_names" must be true or false, got {full!r}.'
        )
    deadline = data.get("deadline_ms")
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0
    ):
        raise BadRequest(
            f'/get-online-features: "deadline_ms" must be a positive number of milliseconds, '
            f"got {deadline!r}."
        )
    fmt = data.get("response_format") or ("feast" if "entities" in data else "parity")
    if fmt not in _FORMATS:
        raise BadRequest(
            f'/get-online-features: "response_format" {fmt!r} is unknown.'
            f"{did_you_mean(str(fmt), _FORMATS)} Use 'parity' or 'feast'."
        )
    now = data.get("now")
    return FeatureRequest(
        feature_service=service,
        features=features,
        full_feature_names=full,
        entity_rows=_entity_rows(data, max_entities),
        response_format="feast" if fmt == "feast" else "parity",
        deadline_ms=None if deadline is None else float(deadline),
        now=None if now is None else parse_timestamp(now, what='"now"'),
    )


class KeyChecker:
    """Checks and converts the JSON join key values of one plan, built once per plan.

    JSON has no bytes or timestamps: a bytes key is sent base64-encoded, a timestamp key
    as an ISO 8601 string. ``true`` is not accepted for an integer key.

    Example:
        >>> checker = KeyChecker(plan)  # doctest: +SKIP
        >>> checker.check([{"user_id": 1}])  # doctest: +SKIP
    """

    def __init__(self, plan: ServingPlan) -> None:
        kinds: dict[str, str] = {}
        for read in plan.reads:
            for name, dtype in read.table.join_keys:
                kinds[name] = dtype.kind
        self._typed = tuple(
            (name, dtype)
            for read in plan.reads
            for name, dtype in read.table.join_keys
            if dtype.kind in ("int32", "int64", "bool", "string")
        )
        self._convert = tuple(
            (k, kind) for k, kind in kinds.items() if kind in ("bytes", "timestamp")
        )

    def check(self, rows: Sequence[dict[str, Any]]) -> None:
        """Refuse key values not of the key's type (the rule pushes share,
        :func:`~parity.online.entity_keys.check_key_value`); decode bytes and timestamp
        keys in place."""
        for name, dtype in self._typed:
            for index, row in enumerate(rows):
                check_key_value(name, dtype, row.get(name), where=f"Entity {index}")
        for name, kind in self._convert:
            for index, row in enumerate(rows):
                if name not in row:
                    continue
                value = row[name]
                what = f"entity {index} join key {name!r}"
                if kind == "timestamp":
                    row[name] = parse_timestamp(value, what=what)
                    continue
                try:
                    row[name] = base64.b64decode(value, validate=True)
                except (TypeError, ValueError):
                    raise BadRequest(
                        f"{what}: {value!r} is not base64; bytes keys travel base64-encoded."
                    ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(data: Any) -> bytes:
    """JSON bytes: datetimes as RFC 3339 with ``Z``, bytes as base64.

    Example:
        >>> dumps({"b": b"hi"})
        b'{"b":"aGk="}'
    """
    return orjson.dumps(data, default=_json_default, option=_DUMPS_OPTIONS)


def encode_parity(response: OnlineResponse, *, request_id: str, plan: ServingPlan) -> bytes:
    """The parity (row-wise) answer."""
    served = response.served_at
    keys = response.join_keys
    results = []
    for row, values, statuses, stamps in zip(
        response.entity_rows,
        response.values,
        response.statuses,
        response.event_timestamps,
        strict=True,
    ):
        results.append(
            {
                "entity": {k: row.get(k) for k in keys},
                "values": values,
                "statuses": statuses,
                "event_timestamps": stamps,
                "ages_seconds": [
                    None if ts is None else (served - ts).total_seconds() for ts in stamps
                ],
            }
        )
    return dumps(
        {
            "request_id": request_id,
            "metadata": {
                "feature_names": response.feature_names,
                "feature_dtypes": [d.name for d in plan.output_dtypes],
                "join_keys": keys,
                "service": response.service,
                "service_version": response.service_version,
                "view_versions": [f"{r.table.view}@v{r.table.version}" for r in plan.reads],
                "served_at": served,
            },
            "results": results,
        }
    )


def encode_feast(response: OnlineResponse) -> bytes:
    """Feast's (column-wise) answer: join key columns first, then the features."""
    rows = response.entity_rows
    count = len(rows)
    present = ["PRESENT"] * count
    epoch = [FEAST_EPOCH] * count
    results: list[dict[str, Any]] = [
        {"values": [row.get(k) for row in rows], "statuses": present, "event_timestamps": epoch}
        for k in response.join_keys
    ]
    for j in range(len(response.feature_names)):
        results.append(
            {
                "values": [row[j] for row in response.values],
                "statuses": [_FEAST_STATUS[s[j]] for s in response.statuses],
                "event_timestamps": [
                    FEAST_EPOCH if (ts := s[j]) is None else ts for s in response.event_timestamps
                ],
            }
        )
    names = [*response.join_keys, *response.feature_names]
    return dumps({"metadata": {"feature_names": names}, "results": results})
