"""The JSON API the web UI is a client of: catalog, versions and diffs, audit log,
lineage, freshness and consistency, quarantine, drift and performance, models, and the
admin actions. Mounted by ``parity serve`` and by ``parity ui`` under ``/api``, with
``GET /openapi.json`` describing every route, built from :data:`ENDPOINTS`.

Reads need the ``read`` scope; ``POST /api/actions`` needs ``admin`` and a message, and
runs the same public calls as the CLI (audited under the key's name). A browser sends
its key in the ``parity_key`` cookie that ``/ui/login`` sets (``HttpOnly``,
``SameSite=Strict``); other clients send ``Authorization: Bearer <key>`` or
``X-API-Key``. With no key configured (development mode) the caller may read, and may
act only when the UI was started with ``parity ui --admin``.

Example:
    >>> auth = UiAuth(ApiKeys([]), local_admin=False)
    >>> auth.local.allows(Scope.ADMIN)
    False
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parity.errors import BadRequest, Forbidden, ParityError
from parity.serve.auth import ApiKeys, Principal, presented_key
from parity.serve.config import Scope
from parity.serve.http_errors import error_body, status_for
from parity.serve.wire import dumps, loads_object
from parity.ui.console import Console

logger = logging.getLogger("parity.serve.catalog_api")
JSON = "application/json"
KEY_COOKIE = "parity_key"
_MAX_ACTION_BYTES = 16_384


class UiAuth:
    """Who a UI or API request comes from: its key (header or cookie), or the local
    principal in development mode (read-only unless ``local_admin``).

    Example:
        >>> UiAuth(ApiKeys([]), local_admin=True).local.allows(Scope.ADMIN)
        True
    """

    def __init__(self, keys: ApiKeys, *, local_admin: bool = False) -> None:
        self.keys = keys
        scopes = frozenset(Scope) if local_admin else frozenset({Scope.READ})
        self.local = Principal("local", scopes)

    def require(self, principal: Principal, scope: Scope, *, endpoint: str) -> None:
        """:class:`Forbidden` unless ``principal`` has ``scope`` (in development mode, the
        message says how to allow admin actions)."""
        if principal is self.local and not principal.allows(scope):
            raise Forbidden(
                f"{endpoint} needs the {scope.value!r} scope. No API key is configured "
                "(development mode), so the UI is read-only: start it with 'parity ui "
                "--admin', or configure server.api_keys and sign in with an admin key."
            )
        principal.require(scope, endpoint=endpoint)

    def principal(self, request: Request) -> Principal:
        """The request's principal; raises ``Unauthenticated`` for a missing or bad key."""
        if not self.keys.enabled:
            return self.local
        key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        return self.keys.authenticate(key or request.cookies.get(KEY_COOKIE))


@dataclass(frozen=True)
class Param:
    """One query or path parameter of an endpoint (for the OpenAPI document)."""

    name: str
    where: str  # "query" or "path"
    description: str
    type: str = "string"
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One route of the API: what it answers and who may call it."""

    method: str
    path: str
    scope: Scope
    summary: str
    params: tuple[Param, ...] = ()
    body: str | None = None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/whoami", Scope.READ, "The caller's key name and scopes."),
    Endpoint(
        "GET",
        "/api/catalog",
        Scope.READ,
        "Entities, views, services and models matching a search (name, owner, tag, feature).",
        (
            Param(
                "q", "query", "Search terms; 'owner:x', 'tag:x', 'feature:x', 'name:x', 'kind:x'."
            ),
            Param("kind", "query", "Only one kind: entity, feature_view, feature_service, model."),
        ),
    ),
    Endpoint(
        "GET",
        "/api/objects/{kind}/{name}",
        Scope.READ,
        "Every version of one object with its state, definition and pins.",
        (
            Param("kind", "path", "entity, feature_view or feature_service.", required=True),
            Param("name", "path", "The object's name.", required=True),
        ),
    ),
    Endpoint(
        "GET",
        "/api/objects/{kind}/{name}/diff",
        Scope.READ,
        "The differences between two versions, classified as 'parity plan' does.",
        (
            Param("kind", "path", "entity, feature_view or feature_service.", required=True),
            Param("name", "path", "The object's name.", required=True),
            Param("old", "query", "The older version number.", "integer", True),
            Param("new", "query", "The newer version number.", "integer", True),
        ),
    ),
    Endpoint(
        "GET",
        "/api/audit",
        Scope.READ,
        "The audit log, newest first.",
        (
            Param("name", "query", "Only entries of this object."),
            Param("limit", "query", "At most this many entries (default 200).", "integer"),
        ),
    ),
    Endpoint(
        "GET",
        "/api/lineage",
        Scope.READ,
        "The lineage graph (source -> view -> service -> dataset -> model -> deployment).",
        (Param("node", "query", "Focus: only this node, its upstream and its downstream."),),
    ),
    Endpoint(
        "GET",
        "/api/views/{ref}/health",
        Scope.READ,
        "Sync runs, freshness, consistency audits and serving block of a view version.",
        (Param("ref", "path", "The view version, 'name@vN'.", required=True),),
    ),
    Endpoint("GET", "/api/blocks", Scope.READ, "View versions blocked from serving."),
    Endpoint(
        "GET",
        "/api/quarantine",
        Scope.READ,
        "Rejected rows with their reasons, newest first.",
        (
            Param("view", "query", "Only rows of this view."),
            Param("limit", "query", "At most this many rows (default 200).", "integer"),
        ),
    ),
    Endpoint(
        "GET",
        "/api/drift",
        Scope.READ,
        "Served vs reference distributions (PSI, KS/chi-square), metrics per window, alerts.",
        (
            Param("dataset", "query", "The reference training dataset (default: the newest)."),
            Param("model", "query", "The model whose metrics to show (default: the first)."),
            Param("window", "query", "Window length for the metrics: 30m, 6h, 1d (default)."),
        ),
    ),
    Endpoint(
        "GET", "/api/models", Scope.READ, "Registered models with their versions and aliases."
    ),
    Endpoint(
        "GET",
        "/api/models/{name}",
        Scope.READ,
        "A model's versions, aliases, decisions, retraining runs with steps, alerts.",
        (Param("name", "path", "The model's name.", required=True),),
    ),
    Endpoint(
        "POST",
        "/api/actions",
        Scope.ADMIN,
        "Promote, deprecate or retire a version, or unblock a view version (audited).",
        body='{"action": "promote|deprecate|retire|unblock", "ref": "name@vN", "message": "why"}',
    ),
)


def openapi_document(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API's routes.

    Example:
        >>> sorted(openapi_document()["paths"])[:2]
        ['/api/actions', '/api/audit']
    """
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        operation: dict[str, Any] = {
            "summary": e.summary,
            "security": [{"apiKey": []}, {"cookieKey": []}],
            "x-parity-scope": e.scope.value,
            "parameters": [
                {
                    "name": p.name,
                    "in": p.where,
                    "description": p.description,
                    "required": p.required or p.where == "path",
                    "schema": {"type": p.type},
                }
                for p in e.params
            ],
            "responses": {
                "200": {"description": "JSON", "content": {JSON: {"schema": {"type": "object"}}}},
                "4XX": {"description": 'Error: {"error": {"type", "message"}}'},
            },
        }
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": {"type": "object"}, "example": e.body}},
            }
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "parity catalog API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "cookieKey": {"type": "apiKey", "in": "cookie", "name": KEY_COOKIE},
            }
        },
    }


def _int(request: Request, name: str, default: int | None = None) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        if default is None:
            raise BadRequest(f"{request.url.path}: the query parameter {name!r} is required.")
        return default
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{request.url.path}: {name}={text!r} is not an integer.") from None


def parse_window(text: str) -> timedelta:
    """``30m``, ``6h``, ``1d`` as a duration; :class:`BadRequest` otherwise.

    Example:
        >>> parse_window("6h")
        datetime.timedelta(seconds=21600)
    """
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise BadRequest(f"window={text!r}: expected a length like 30m, 6h or 1d.") from None
    if seconds <= 0:
        raise BadRequest(f"window={text!r}: must be positive.")
    return timedelta(seconds=seconds)


_Answer = Callable[[Request, Principal], Any]


class CatalogApi:
    """The API's handlers over one :class:`Console`.

    Example:
        >>> api = CatalogApi(Console(store), UiAuth(ApiKeys([])))  # doctest: +SKIP
        >>> routes = api.routes()  # doctest: +SKIP
    """

    def __init__(self, console: Console, auth: UiAuth) -> None:
        self.console = console
        self.auth = auth

    def _handlers(self) -> dict[tuple[str, str], _Answer]:
        c = self.console
        q = _query
        return {
            ("GET", "/api/whoami"): lambda r, p: {
                "name": p.name,
                "scopes": sorted(s.value for s in p.scopes),
                "admin": p.allows(Scope.ADMIN),
            },
            ("GET", "/api/catalog"): lambda r, p: c.catalog(
                query=q(r, "q") or "", kind=q(r, "kind")
            ),
            ("GET", "/api/objects/{kind}/{name}"): lambda r, p: c.object(
                r.path_params["kind"], r.path_params["name"]
            ),
            ("GET", "/api/objects/{kind}/{name}/diff"): lambda r, p: c.diff(
                r.path_params["kind"], r.path_params["name"], _int(r, "old"), _int(r, "new")
            ),
            ("GET", "/api/audit"): lambda r, p: c.audit_log(
                name=q(r, "name"), limit=_int(r, "limit", 200)
            ),
            ("GET", "/api/lineage"): lambda r, p: c.lineage(q(r, "node")),
            ("GET", "/api/views/{ref}/health"): lambda r, p: c.view_health(r.path_params["ref"]),
            ("GET", "/api/blocks"): lambda r, p: c.blocks(),
            ("GET", "/api/quarantine"): lambda r, p: c.quarantine(
                view=q(r, "view"), limit=_int(r, "limit", 200)
            ),
            ("GET", "/api/drift"): lambda r, p: c.drift(
                dataset=q(r, "dataset"),
                model=q(r, "model"),
                window=parse_window(q(r, "window") or "1d"),
            ),
            ("GET", "/api/models"): lambda r, p: c.models(),
            ("GET", "/api/models/{name}"): lambda r, p: c.model(r.path_params["name"]),
        }

    def routes(self) -> list[Route]:
        """One Starlette route per endpoint (``GET /openapi.json``, with these routes in it,
        is the feature server's: :mod:`parity.serve.openapi`)."""
        handlers = self._handlers()
        routes = []
        for e in ENDPOINTS:
            if e.method == "POST":
                routes.append(Route(e.path, self._wrap_async(e, self._act), methods=["POST"]))
                continue
            routes.append(
                Route(e.path, self._wrap(e, handlers[(e.method, e.path)]), methods=["GET"])
            )
        # GET /openapi.json is the feature server's one document, these routes merged in.
        return routes

    def _wrap(
        self, endpoint: Endpoint, answer: _Answer
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request, principal: Principal) -> Any:
            return await asyncio.to_thread(answer, request, principal)

        return self._wrap_async(endpoint, run)

    def _wrap_async(
        self, endpoint: Endpoint, run: Callable[[Request, Principal], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                principal = self.auth.principal(request)
                self.auth.require(principal, endpoint.scope, endpoint=endpoint.path)
                body = await run(request, principal)
                return Response(dumps(body), media_type=JSON)
            except Exception as exc:
                if not isinstance(exc, ParityError):
                    logger.exception("%s failed", endpoint.path)
                return Response(dumps(error_body(exc)), status_for(exc), media_type=JSON)

        return handle

    async def _act(self, request: Request, principal: Principal) -> Any:
        raw = await request.body()
        if len(raw) > _MAX_ACTION_BYTES:
            raise BadRequest(f"/api/actions: the body is over {_MAX_ACTION_BYTES} bytes.")
        body = loads_object(raw, endpoint="/api/actions")
        fields = {}
        for name in ("action", "ref", "message"):
            value = body.get(name)
            if not isinstance(value, str):
                raise BadRequest(f"/api/actions: {name!r} must be a string (got {value!r}).")
            fields[name] = value
        return await asyncio.to_thread(
            self.console.act,
            fields["action"],
            fields["ref"],
            message=fields["message"],
            actor=f"ui:{principal.name}",
        )


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None
