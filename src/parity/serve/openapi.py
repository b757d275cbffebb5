"""The OpenAPI 3.1 document of the feature server's HTTP API, served at ``/openapi.json``.

One document for every endpoint: both request shapes of a read (parity's ``entity_rows``
and Feast's column-wise ``entities``) and of a push (``rows`` and ``df``), both answer
shapes, and every error answer (``{"error": {"type", "message"}}``) with the statuses
:data:`parity.serve.http_errors.STATUS` gives. ``tests/integration/serve/test_openapi.py``
runs schemathesis against a live server with it: no 5xx, every answer matches.

Example:
    >>> document()["openapi"]
    '3.1.0'
    >>> sorted(document()["paths"])[:3]
    ['/get-online-features', '/health', '/metrics']
"""

from __future__ import annotations

import copy
from typing import Any

JSON = "application/json"
_ANY: dict[str, Any] = {}
_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


_READ_COMMON: dict[str, Any] = {
    "feature_service": {"type": "string", "minLength": 1, "description": "name or name@vN"},
    "features": _array({"type": "string"}, description='["view:feature", ...]'),
    "full_feature_names": {"type": "boolean"},
    "deadline_ms": {"type": "number", "exclusiveMinimum": 0},
    "now": {
        **_TIMESTAMP,
        "description": "RFC 3339 with an offset, within server.max_client_now_skew_seconds "
        "of the server's clock; moves only the instant TTLs and ages are measured against",
    },
    "response_format": {"enum": ["parity", "feast"]},
    "include_feature_view_version_metadata": _ANY,
    "allow_registry_cache": _ANY,
}

_SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {
            "error": _object(
                {"type": {"type": "string"}, "message": {"type": "string"}},
                required=("type", "message"),
            )
        },
        required=("error",),
    ),
    "ReadRequest": {
        "description": "Exactly one of feature_service / features, and exactly one of "
        "entity_rows (parity, row-wise) / entities (Feast, column-wise).",
        "oneOf": [
            {
                **_object(
                    {
                        **_READ_COMMON,
                        "entity_rows": _array({"type": "object"}, minItems=1),
                    },
                    required=("entity_rows",),
                ),
                "additionalProperties": False,
                "title": "parity shape",
            },
            {
                **_object(
                    {
                        **_READ_COMMON,
                        "entities": {
                            "type": "object",
                            "additionalProperties": _array(_ANY),
                            "minProperties": 1,
                        },
                    },
                    required=("entities",),
                ),
                "additionalProperties": False,
                "title": "Feast shape",
            },
        ],
    },
    "ParityReadResponse": _object(
        {
            "request_id": {"type": "string"},
            "metadata": _object(
                {
                    "feature_names": _array({"type": "string"}),
                    "feature_dtypes": _array({"type": "string"}),
                    "join_keys": _array({"type": "string"}),
                    "service": {"type": ["string", "null"]},
                    "service_version": {"type": ["integer", "null"]},
                    "view_versions": _array({"type": "string"}),
                    "served_at": _TIMESTAMP,
                },
                required=("feature_names", "join_keys", "served_at"),
            ),
            "results": _array(
                _object(
                    {
                        "entity": {"type": "object"},
                        "values": _array(_ANY),
                        "statuses": _array(
                            {
                                "enum": [
                                    "present",
                                    "null_value",
                                    "not_found",
                                    "outside_max_age",
                                    "deadline_exceeded",
                                ]
                            }
                        ),
                        "event_timestamps": _array(_NULLABLE_TIMESTAMP),
                        "ages_seconds": _array({"type": ["number", "null"]}),
                    },
                    required=("entity", "values", "statuses"),
                )
            ),
        },
        required=("request_id", "metadata", "results"),
    ),
    "FeastReadResponse": _object(
        {
            "metadata": _object(
                {"feature_names": _array({"type": "string"})}, required=("feature_names",)
            ),
            "results": _array(
                _object(
                    {
                        "values": _array(_ANY),
                        "statuses": _array(
                            {
                                "enum": [
                                    "PRESENT",
                                    "NULL_VALUE",
                                    "NOT_FOUND",
                                    "OUTSIDE_MAX_AGE",
                                    "INVALID",
                                ]
                            }
                        ),
                        "event_timestamps": _array({"type": "string"}),
                    },
                    required=("values", "statuses", "event_timestamps"),
                )
            ),
        },
        required=("metadata", "results"),
    ),
    "PushRequest": {
        "description": "Exactly one of rows (row-wise) / df (Feast, column-wise).",
        "oneOf": [
            {
                **_object(
                    {
                        "push_source_name": {"type": "string", "minLength": 1},
                        "rows": _array({"type": "object"}, minItems=1),
                        "to": {"enum": ["online", "offline", "online_and_offline"]},
                        "push_id": {"type": "string"},
                        "ignore_unknown_columns": {"type": "boolean"},
                        "allow_registry_cache": _ANY,
                        "transform_on_write": _ANY,
                    },
                    required=("push_source_name", "rows"),
                ),
                "additionalProperties": False,
                "title": "rows",
            },
            {
                **_object(
                    {
                        "push_source_name": {"type": "string", "minLength": 1},
                        "df": {
                            "type": "object",
                            "additionalProperties": _array(_ANY),
                            "minProperties": 1,
                        },
                        "to": {"enum": ["online", "offline", "online_and_offline"]},
                        "push_id": {"type": "string"},
                        "ignore_unknown_columns": {"type": "boolean"},
                        "allow_registry_cache": _ANY,
                        "transform_on_write": _ANY,
                    },
                    required=("push_source_name", "df"),
                ),
                "additionalProperties": False,
                "title": "df (Feast)",
            },
        ],
    },
    "PushResult": _object(
        {
            "push_id": {"type": "string"},
            "push_source_name": {"type": "string"},
            "rows_received": {"type": "integer"},
            "rows_written": {"type": "integer"},
            "rows_rejected": {"type": "integer"},
            "rejected": _array(
                _object(
                    {
                        "row": {"type": "integer"},
                        "view": {"type": "string"},
                        "reason": {"type": "string"},
                    }
                )
            ),
            "online": {"type": "object"},
            "offline": {"type": ["object", "null"]},
            "replayed": {"type": "boolean"},
            "streams": {"type": "object"},
        },
        required=("push_id", "rows_received", "rows_written", "rows_rejected", "rejected"),
    ),
    "PredictRequest": _object(
        {"model": {"type": "string", "minLength": 1}, "entity_rows": _array({"type": "object"})},
        required=("model", "entity_rows"),
    ),
    "Ready": _object(
        {
            "ready": {"type": "boolean"},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
            "registry_age_seconds": {"type": ["number", "null"]},
            "registry_max_staleness_seconds": {"type": "number"},
            "pid": {"type": "integer"},
            "monitor": _ANY,
        },
        required=("ready", "checks"),
    ),
}


def _errors(*statuses: int) -> dict[str, Any]:
    why = {
        400: "malformed JSON, wrong request shape, unknown field, bad option",
        401: "no API key, or an unknown one",
        403: "the key lacks the endpoint's scope",
        404: "unknown feature service, view, feature or push source",
        405: "method not allowed",
        409: "a push id reused with different content",
        413: "body or entity/row count over the server's limits",
        422: "values that do not fit the schema, unknown push columns",
        503: "online store or registry unreachable, view version blocked, damaged offline table",
    }
    return {
        str(status): {
            "description": why[status],
            "content": {JSON: {"schema": _ref("Error")}},
        }
        for status in statuses
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


def _paths() -> dict[str, Any]:
    keyed = (401, 403)
    return {
        "/get-online-features": {
            "post": {
                "summary": "Feature vectors of entities (parity or Feast shape)",
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("ReadRequest")}},
                },
                "responses": {
                    "200": _json(
                        {"oneOf": [_ref("ParityReadResponse"), _ref("FeastReadResponse")]},
                        "the vectors, in the service's canonical order",
                    ),
                    **_errors(400, *keyed, 404, 413, 422, 503),
                },
            }
        },
        "/push": {
            "post": {
                "summary": "Validated rows into the online and/or offline store",
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("PushRequest")}},
                },
                "responses": {
                    "200": _json(_ref("PushResult"), "rows written (some may be rejected)"),
                    "422": {
                        "description": "no row written: every row rejected (a PushResult), or "
                        "unknown columns / wrong types (an Error)",
                        "content": {
                            JSON: {"schema": {"oneOf": [_ref("PushResult"), _ref("Error")]}}
                        },
                    },
                    **_errors(400, *keyed, 404, 409, 413, 503),
                },
            }
        },
        "/predict": {
            "post": {
                "summary": "Features of the model's service, scored by its production model",
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("PredictRequest")}},
                },
                "responses": {
                    "200": _json({"type": "object"}, "scores"),
                    **_errors(400, *keyed, 404, 413, 422, 503),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness: the process answers (never waits on a dependency)",
                "responses": {
                    "200": _json(
                        _object({"status": {"const": "ok"}}, required=("status",)), "alive"
                    )
                },
            }
        },
        "/ready": {
            "get": {
                "summary": "Readiness: able to serve reads; the registry reported apart",
                "responses": {
                    "200": _json(_ref("Ready"), "ready"),
                    "503": _json(_ref("Ready"), "not ready; checks say why"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus exposition text",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(*keyed),
                },
            }
        },
        "/registry/views": {
            "get": {
                "summary": "Every feature view with its versions and states",
                "responses": {
                    "200": _json(
                        _object({"views": _array({"type": "object"})}, required=("views",)),
                        "views",
                    ),
                    **_errors(*keyed, 503),
                },
            }
        },
        "/registry/views/{name}": {
            "get": {
                "summary": "One feature view, every version with its definition",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json(
                        _object(
                            {"name": {"type": "string"}, "versions": _array({"type": "object"})},
                            required=("name", "versions"),
                        ),
                        "the view",
                    ),
                    **_errors(*keyed, 404, 503),
                },
            }
        },
        "/registry/services": {
            "get": {
                "summary": "Every feature service with its versions and pinned features",
                "responses": {
                    "200": _json(
                        _object({"services": _array({"type": "object"})}, required=("services",)),
                        "services",
                    ),
                    **_errors(*keyed, 503),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
    }


def document(*, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the whole HTTP API (a new dict each call); ``extra`` is
    another document (the web UI's JSON API) whose paths and security schemes are merged in.

    Example:
        >>> document()["components"]["schemas"]["Error"]["required"]
        ['error']
        >>> "/api/x" in document(extra={"paths": {"/api/x": {}}})["paths"]
        True
    """
    merged = _document()
    if extra is not None:
        merged["paths"].update(extra.get("paths", {}))
        schemes = extra.get("components", {}).get("securitySchemes", {})
        for name, scheme in schemes.items():
            merged["components"]["securitySchemes"].setdefault(name, scheme)
    return merged


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "parity feature server",
            "version": "1",
            "description": "Reads, pushes, predictions, probes and the registry catalog. "
            "Every error is {'error': {'type', 'message'}}; see docs/serving.md.",
        },
        "components": {
            "schemas": copy.deepcopy(_SCHEMAS),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{}, {"bearer": []}, {"apiKey": []}],
        "paths": _paths(),
    }
