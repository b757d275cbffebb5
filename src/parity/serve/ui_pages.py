"""The web UI's pages: server-rendered Jinja2 templates over the JSON API's payloads.

Every page renders exactly what one (or two) of the JSON API's endpoints answer: each
handler calls the same :class:`~parity.ui.console.Console` method the API calls and
passes its dict to a template, so the UI shows nothing the API does not. Charts are
Vega-Lite specs drawn in the browser by the vendored vega-embed; the only hand-written
JavaScript (``static/ui.js``) draws them and posts admin actions to ``/api/actions``.

Example:
    >>> routes = UiPages(console, auth).routes()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from parity.errors import ParityError, Unauthenticated
from parity.serve.auth import Principal
from parity.serve.catalog_api import KEY_COOKIE, UiAuth, parse_window
from parity.serve.config import Scope
from parity.serve.http_errors import status_for
from parity.ui import ASSETS, charts
from parity.ui.catalog import KINDS
from parity.ui.console import Console, dumps_pretty

logger = logging.getLogger("parity.ui")
PREFIX = "/ui"
NAV = (
    ("catalog", "Catalog"),
    ("lineage", "Lineage"),
    ("health", "Freshness & consistency"),
    ("drift", "Drift & performance"),
    ("models", "Models"),
    ("quarantine", "Quarantine"),
    ("audit", "Audit log"),
)

_Page = Callable[[Request, Principal], tuple[str, dict[str, Any]]]


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ASSETS / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = dumps_pretty
    env.filters["url"] = lambda text: quote(str(text), safe="")
    env.filters["num"] = _number
    env.globals["nav"] = NAV
    env.globals["prefix"] = PREFIX
    env.globals["actions_for"] = Console.actions_for
    return env


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


class UiPages:
    """The pages' handlers over one :class:`Console`.

    Example:
        >>> UiPages(console, UiAuth(ApiKeys([]))).routes()  # doctest: +SKIP
    """

    def __init__(self, console: Console, auth: UiAuth) -> None:
        self.console = console
        self.auth = auth
        self.env = _environment()

    def routes(self) -> list[Route | Mount]:
        """The page routes and the static files, under ``/ui``."""
        pages: dict[str, _Page] = {
            "/catalog": self.catalog,
            "/objects/{kind}/{name}": self.object,
            "/audit": self.audit,
            "/lineage": self.lineage,
            "/health": self.health_index,
            "/views/{ref}/health": self.view_health,
            "/drift": self.drift,
            "/models": self.models,
            "/models/{name}": self.model,
            "/quarantine": self.quarantine,
        }
        routes: list[Route | Mount] = [
            Route(PREFIX + path, self._page(page), methods=["GET"]) for path, page in pages.items()
        ]
        routes += [
            Route(PREFIX, _redirect(f"{PREFIX}/catalog"), methods=["GET"]),
            Route(PREFIX + "/", _redirect(f"{PREFIX}/catalog"), methods=["GET"]),
            Route(PREFIX + "/login", self.login_form, methods=["GET"]),
            Route(PREFIX + "/login", self.login, methods=["POST"]),
            Route(PREFIX + "/logout", self.logout, methods=["POST", "GET"]),
            Mount(PREFIX + "/static", StaticFiles(directory=ASSETS / "static"), name="ui-static"),
        ]
        return routes

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A template rendered as an HTML response."""
        context.setdefault("principal", None)
        context.setdefault("admin", False)
        context.setdefault("active", "")
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status)

    def _page(self, page: _Page) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                principal = self.auth.principal(request)
                self.auth.require(principal, Scope.READ, endpoint=request.url.path)
            except Unauthenticated:
                return RedirectResponse(f"{PREFIX}/login?next={quote(request.url.path)}", 303)
            except ParityError as exc:
                return self.render("error.html", status_for(exc), error=exc)
            try:
                template, context = await asyncio.to_thread(page, request, principal)
            except Exception as exc:
                if not isinstance(exc, ParityError):
                    logger.exception("%s failed", request.url.path)
                return self.render("error.html", status_for(exc), error=exc, principal=principal)
            return self.render(
                template, principal=principal, admin=principal.allows(Scope.ADMIN), **context
            )

        return handle

    # --- pages -------------------------------------------------------------------------

    def catalog(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Search entities, views, services and models."""
        query = request.query_params.get("q", "")
        kind = request.query_params.get("kind") or None
        result = self.console.catalog(query=query, kind=kind)
        return "catalog.html", {"active": "catalog", "result": result, "kinds": KINDS}

    def object(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """An object's versions, states, definitions; a diff between two versions."""
        kind, name = request.path_params["kind"], request.path_params["name"]
        data = self.console.object(kind, name)
        versions = [v["version"] for v in data["history"]]
        old_text, new_text = request.query_params.get("old"), request.query_params.get("new")
        diff = None
        if old_text and new_text and old_text.isdigit() and new_text.isdigit():
            diff = self.console.diff(kind, name, int(old_text), int(new_text))
        audit = self.console.audit_log(name=name, limit=50)
        return "object.html", {
            "active": "catalog",
            "obj": data,
            "versions": versions,
            "diff": diff,
            "audit": audit,
            "old": int(old_text) if old_text and old_text.isdigit() else min(versions),
            "new": int(new_text) if new_text and new_text.isdigit() else max(versions),
        }

    def audit(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Who changed what, when and why."""
        name = request.query_params.get("name") or None
        return "audit.html", {"active": "audit", "log": self.console.audit_log(name=name)}

    def lineage(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """The lineage graph, whole or around one node."""
        node = request.query_params.get("node") or None
        graph = self.console.lineage_graph()
        size = len(graph.nodes)
        if node:
            data = graph.focus(node)
        elif size <= 400:
            data = graph.to_dict()
        else:  # a large project: start from the deployments (few), walk from there
            keep = [i for i, n in graph.nodes.items() if n["kind"] == "deployment"]
            data = graph.to_dict(keep)
        return "lineage.html", {"active": "lineage", "graph": data, "size": size}

    def health_index(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Blocked view versions and every view version, to open their health page."""
        catalog = self.console.catalog(kind="feature_view")
        return "health_index.html", {
            "active": "health",
            "blocks": self.console.blocks()["blocked"],
            "views": catalog["results"],
        }

    def view_health(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Freshness and consistency of one view version over time."""
        data = self.console.view_health(request.path_params["ref"])
        return "health.html", {
            "active": "health",
            "health": data,
            "sync_chart": charts.sync_history(data["syncs"]),
            "audit_chart": charts.audit_history(data["audits"]),
        }

    def drift(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Reference vs current distributions, metrics per window, alerts."""
        window = request.query_params.get("window") or "1d"
        data = self.console.drift(
            dataset=request.query_params.get("dataset") or None,
            model=request.query_params.get("model") or None,
            window=parse_window(window),
        )
        features = (data["drift"] or {}).get("features", [])
        return "drift.html", {
            "active": "drift",
            "data": data,
            "window": window,
            "distribution_charts": [(f, charts.distribution(f)) for f in features],
            "psi_chart": charts.psi_by_window(data["performance"]),
            "metrics_chart": charts.metrics_by_window(data["performance"]),
        }

    def models(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Registered models."""
        return "models.html", {"active": "models", "data": self.console.models()}

    def model(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """One model: versions, aliases, decisions, runs and their steps."""
        return "model.html", {
            "active": "models",
            "model": self.console.model(request.path_params["name"]),
        }

    def quarantine(self, request: Request, principal: Principal) -> tuple[str, dict[str, Any]]:
        """Rejected rows with their reasons."""
        view = request.query_params.get("view") or None
        return "quarantine.html", {
            "active": "quarantine",
            "data": self.console.quarantine(view=view),
        }

    # --- login -------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """Ask for an API key (kept in an HttpOnly cookie, sent with every request)."""
        return self.render(
            "login.html",
            next=_safe_next(request.query_params.get("next")),
            enabled=self.auth.keys.enabled,
            failed=False,
        )

    async def login(self, request: Request) -> Response:
        """Check the key; on success set the cookie and go on."""
        # A two-field urlencoded form: parsed here rather than adding python-multipart.
        form = parse_qs((await request.body())[:8192].decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0].strip()
        target = _safe_next((form.get("next") or [""])[0])
        try:
            self.auth.keys.authenticate(key)
        except Unauthenticated:
            return self.render(
                "login.html", 401, next=target, enabled=self.auth.keys.enabled, failed=True
            )
        response = RedirectResponse(target, 303)
        response.set_cookie(
            KEY_COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    async def logout(self, request: Request) -> Response:
        """Forget the key."""
        response = RedirectResponse(f"{PREFIX}/login", 303)
        response.delete_cookie(KEY_COOKIE)
        return response


def _safe_next(target: str | None) -> str:
    """Only a path of this UI: never an absolute URL (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/catalog"


def _redirect(target: str) -> Callable[[Request], Awaitable[Response]]:
    async def go(request: Request) -> Response:
        return RedirectResponse(target, 307)

    return go
