"""The feature server: an ASGI application over one :class:`FeatureStore`.

Endpoints (see ``docs/serving.md``): ``POST /get-online-features``, ``POST /push``,
``GET /health``, ``GET /ready``, ``GET /metrics``, ``GET /registry/views``,
``GET /registry/views/{name}``, ``GET /registry/services``. Every error is a JSON body
``{"error": {"type", "message"}}`` with the status of its class
(:mod:`parity.serve.http_errors`).

Reads (``POST /get-online-features``) take a direct ASGI path; every other endpoint goes
through a Starlette router. A read resolves the serving plan from the store's short-lived
cache (:class:`~parity.retrieval.plan_cache.ServingPlanCache`), checks the keys, reads all
views in one backend call (:mod:`parity.retrieval`), encodes with orjson and hands the
response to the request log's queue: no registry query, no pydantic model and no copy on
the hot path; its metrics are dict increments flushed once a second.

Example:
    >>> app = create_app(FeatureStore("my_repo"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=6566)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parity.config import load_config
from parity.errors import (
    BadRequest,
    OnlineStoreUnavailable,
    ParityError,
    RegistryUnreachable,
    RequestTooLarge,
)
from parity.monitor.serving import ServingMonitor
from parity.online.base import ViewTable
from parity.push.plan import PushPlan
from parity.push.request import PushRequest, PushResult, parse_push_request
from parity.registry import RegistrySnapshot
from parity.retrieval.reading import VectorReader, probe_online_store
from parity.retrieval.resolve import ServingPlan
from parity.serve import catalog, openapi
from parity.serve.auth import LOCAL, ApiKeys, Principal, presented_key
from parity.serve.config import Scope, ServerConfig
from parity.serve.http_errors import error_body, status_for
from parity.serve.metrics import HotMetrics, ServerMetrics
from parity.serve.predict import Predictor, parse_predict_request
from parity.serve.request_log import RequestLog
from parity.serve.wire import (
    FeatureRequest,
    KeyChecker,
    dumps,
    encode_feast,
    encode_parity,
    loads_object,
    parse_feature_request,
)
from parity.store import FeatureStore

logger = logging.getLogger("parity.serve")
REPO_ENV = "PARITY_REPO"
JSON = "application/json"
_READ = "/get-online-features"
_MAX_REQUEST_ID = 128
# The instants a client's "now" may take: TTLs and ages stay representable around them.
_EARLIEST_NOW = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_NOW = datetime(9000, 1, 1, tzinfo=UTC)
_METRICS_FLUSH_SECONDS = 1.0
_Handler = Callable[[Request, Principal], Awaitable[Response]]


class FeatureServer:
    """The state one worker process serves from: store, keys, metrics, log, caches.

    Example:
        >>> server = FeatureServer(FeatureStore("my_repo"))  # doctest: +SKIP
        >>> uvicorn.run(server, port=6566)  # doctest: +SKIP
    """

    def __init__(
        self, store: FeatureStore, *, config: ServerConfig | None = None, owns_store: bool = False
    ) -> None:
        self.store = store
        self._owns_store = owns_store
        self.config = config if config is not None else store.config.server
        self.keys = ApiKeys(self.config.api_keys)
        self.metrics = ServerMetrics()
        self.hot = HotMetrics(self.metrics)
        self.reader: VectorReader | None = None
        self.request_log: RequestLog | None = None
        self._checkers: dict[int, tuple[ServingPlan, KeyChecker, tuple[str, ...]]] = {}
        self._push_plans: dict[str, tuple[RegistrySnapshot, PushPlan]] = {}
        self._push_locks: dict[str, threading.Lock] = {}
        # The store's serving-plan cache, read directly on the hot path.
        self.plans = store.serving_plans
        self.predictor = Predictor(store)
        self.monitor = ServingMonitor(
            store.project,
            registry=lambda: store.registry,
            online=lambda: store.online_store,
            root=store.storage.monitoring_root,
            settings=store.config.monitoring.serving,
        )
        self._observers: dict[int, tuple[ServingPlan, str, tuple[Any, ...]]] = {}
        self._openapi: bytes | None = None
        self._probe = ViewTable.build(
            store.project,
            "parity_ready_probe",
            1,
            join_keys={"k": "int64"},
            features={"x": "int64"},
        )
        self.router = Starlette(
            routes=[
                Route(
                    "/get-online-features",
                    self._wrap("/get-online-features", Scope.READ, self.get_online_features),
                    methods=["POST"],
                ),
                Route("/push", self._wrap("/push", Scope.PUSH, self.push), methods=["POST"]),
                Route(
                    "/predict", self._wrap("/predict", Scope.READ, self.predict), methods=["POST"]
                ),
                Route("/health", self._wrap("/health", None, self.health), methods=["GET"]),
                Route(
                    "/openapi.json",
                    self._wrap("/openapi.json", None, self.openapi),
                    methods=["GET"],
                ),
                Route("/ready", self._wrap("/ready", None, self.ready), methods=["GET"]),
                Route(
                    "/metrics",
                    self._wrap(
                        "/metrics",
                        Scope.ADMIN if self.config.metrics_require_auth else None,
                        self.render_metrics,
                    ),
                    methods=["GET"],
                ),
                Route(
                    "/registry/views",
                    self._wrap("/registry/views", Scope.READ, self.registry_views),
                    methods=["GET"],
                ),
                Route(
                    "/registry/views/{name}",
                    self._wrap("/registry/views/{name}", Scope.READ, self.registry_view),
                    methods=["GET"],
                ),
                Route(
                    "/registry/services",
                    self._wrap("/registry/services", Scope.READ, self.registry_services),
                    methods=["GET"],
                ),
                *self._ui_routes(),
            ],
            lifespan=self._lifespan,
            exception_handlers={404: _not_found, 405: _not_allowed},
        )

    def _ui_routes(self) -> list[Any]:
        """The web UI (``/ui``) and its JSON API (``/api``, ``/openapi.json``): read scope,
        admin actions with the admin scope (read-only in development mode)."""
        from parity.serve.catalog_api import UiAuth
        from parity.serve.ui_app import ui_routes
        from parity.ui.console import Console

        self.console = Console(self.store)
        return ui_routes(self.console, UiAuth(self.keys))

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def app(self) -> FeatureServer:
        """The ASGI application (this object)."""
        return self

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.start()
        flusher = asyncio.create_task(self._flush_metrics())
        try:
            yield
        finally:
            flusher.cancel()
            self.stop()

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(_METRICS_FLUSH_SECONDS)
            self.hot.flush()

    def start(self) -> None:
        """Open the online store and start the request log writer."""
        if not self.keys.enabled:
            logger.warning(
                "\n%s\n  parity serve: NO API KEY CONFIGURED - local development mode.\n  Every "
                "request is allowed, with every scope. Add server.api_keys to parity.yaml\n  "
                "('parity serve hash-key' makes one) before exposing this server.\n%s",
                "!" * 78,
                "!" * 78,
            )
        self.reader = VectorReader(self.store.online_store, threads=self.config.read_threads)
        self.monitor.start()
        # Everything loaded so far (modules, definitions) lives as long as the process:
        # keep it out of the collector's full passes, which would otherwise stall requests.
        gc.collect()
        gc.freeze()
        log_config = self.config.request_log
        if log_config.enabled:
            root = Path(log_config.path)
            if not root.is_absolute():
                root = self.store.storage.offline_root / root
            self.request_log = RequestLog(root, log_config, self.metrics)
            self.request_log.start()

    def stop(self) -> None:
        """Flush the request log and release the store (graceful shutdown)."""
        if self.request_log is not None:
            self.request_log.close()
        self.hot.flush()
        if self.reader is not None:
            self.reader.close()
        self.predictor.close()
        self.monitor.close()
        self.console.close()
        if self._owns_store:
            self.store.close()
        gc.unfreeze()

    # --- plumbing ----------------------------------------------------------------------

    def _wrap(
        self, endpoint: str, scope: Scope | None, handler: _Handler
    ) -> Callable[[Request], Awaitable[Response]]:
        metrics = self.metrics
        hot = self.hot
        keys = self.keys

        async def endpoint_fn(request: Request) -> Response:
            started = time.perf_counter()
            request.state.service = ""
            try:
                principal = LOCAL  # probes are open: orchestrators call them without keys
                if scope is not None:
                    principal = keys.authenticate(
                        presented_key(
                            request.headers.get("authorization"), request.headers.get("x-api-key")
                        )
                    )
                    principal.require(scope, endpoint=endpoint)
                response = await handler(request, principal)
            except Exception as exc:
                if isinstance(exc, OnlineStoreUnavailable):
                    metrics.online_store_errors.labels(endpoint).inc()
                if not isinstance(exc, ParityError):
                    logger.exception("%s failed", endpoint)
                response = Response(dumps(error_body(exc)), status_for(exc), media_type=JSON)
            hot.request(
                endpoint, request.state.service, response.status_code, time.perf_counter() - started
            )
            return response

        return endpoint_fn

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_request_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(
                f"{request.url.path}: the body is {int(declared)} bytes; the limit is {limit} "
                "(server.max_request_bytes). Split the request."
            )
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(
                    f"{request.url.path}: the body is over {limit} bytes "
                    "(server.max_request_bytes). Split the request."
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _checker(self, plan: ServingPlan) -> tuple[KeyChecker, tuple[str, ...]]:
        entry = self._checkers.get(id(plan))
        if entry is None or entry[0] is not plan:
            if len(self._checkers) > 256:
                self._checkers.clear()
            views = tuple(f"{r.table.view}@v{r.table.version}" for r in plan.reads)
            entry = (plan, KeyChecker(plan), views)
            self._checkers[id(plan)] = entry
        return entry[1], entry[2]

    # --- endpoints ---------------------------------------------------------------------

    async def get_online_features(self, request: Request, principal: Principal) -> Response:
        """Feature vectors (parity or Feast shape); reached through Starlette only in tests
        of the router, the server answers ``POST /get-online-features`` in :meth:`__call__`.
        """
        body = await self._body(request)
        content, request_id, service = await self._read(body, request.headers.get("x-request-id"))
        request.state.service = service
        return Response(content, media_type=JSON, headers={"x-request-id": request_id})

    async def _read(self, body: bytes, request_id: str | None) -> tuple[bytes, str, str]:
        """The answer to a read: (JSON, request id, service label)."""
        parsed = parse_feature_request(body, max_entities=self.config.max_entities)
        plan = self.plans.lookup(
            feature_service=parsed.feature_service,
            features=parsed.features,
            full_feature_names=parsed.full_feature_names,
        )
        if plan is None:
            plan = await self._plan_after_refresh(parsed)
        checker, views = self._checker(plan)
        self.monitor.check(views)  # 503 for a view version the block policy stopped
        checker.check(parsed.entity_rows)
        deadline_ms = parsed.deadline_ms or self.config.default_deadline_ms
        served_at = datetime.now(UTC)
        now = served_at if parsed.now is None else self._client_now(parsed.now, served_at)
        assert self.reader is not None
        response = await self.reader.read(
            plan,
            parsed.entity_rows,
            now=now,
            deadline=None if deadline_ms is None else deadline_ms / 1000.0,
        )
        if not request_id or len(request_id) > _MAX_REQUEST_ID:
            request_id = os.urandom(16).hex()  # 128 random bits, like a uuid4, 5x cheaper
        if parsed.response_format == "feast":
            content = encode_feast(response)
        else:
            content = encode_parity(response, request_id=request_id, plan=plan)
        if self.request_log is not None:
            # The log records when the server served, whatever "now" the client chose.
            logged = response if parsed.now is None else replace(response, served_at=served_at)
            self.request_log.record(logged, request_id=request_id, plan=plan)
        self._observe(plan, views, response)
        return content, request_id, plan.service or ""

    async def _refreshed(self) -> None:
        """Wait for the registry refresh off the event loop, at most the cache's
        ``wait_seconds``; ``RegistryUnreachable`` (503) when it does not answer."""
        plans = self.plans
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(plans.refresh())), plans.wait_seconds
            )
        except TimeoutError:
            raise plans.unreachable(None) from None
        except RegistryUnreachable as exc:
            raise plans.unreachable(exc) from exc

    async def _snapshot(self) -> RegistrySnapshot:
        """The plan cache's registry snapshot (stale-while-revalidate, like reads)."""
        snapshot = self.plans.latest()
        if snapshot is None:
            await self._refreshed()
            snapshot = self.plans.latest()
            if snapshot is None:
                raise self.plans.unreachable(None)
        return snapshot

    async def _plan_after_refresh(self, parsed: FeatureRequest) -> ServingPlan:
        """A request no cached plan may serve waits for the registry refresh."""
        plans = self.plans
        await self._refreshed()
        plan = plans.lookup(
            feature_service=parsed.feature_service,
            features=parsed.features,
            full_feature_names=parsed.full_feature_names,
        )
        if plan is None:
            raise plans.unreachable(None)
        return plan

    def _client_now(self, now: datetime, served_at: datetime) -> datetime:
        """The client's ``now``, if within ``server.max_client_now_skew_seconds`` of the
        server's clock and far enough from the calendar's ends for any TTL arithmetic."""
        if not _EARLIEST_NOW <= now <= _LATEST_NOW:
            raise BadRequest(
                f'/get-online-features: "now" {now.isoformat()} is outside the supported '
                f"range {_EARLIEST_NOW.date()} to {_LATEST_NOW.date()}. Omit it to read "
                "as of the server's clock."
            )
        bound = self.config.max_client_now_skew_seconds
        skew = abs((now - served_at).total_seconds())
        if bound is not None and skew > bound:
            raise BadRequest(
                f'/get-online-features: "now" {now.isoformat()} is {skew:.0f} s from the '
                f"server's clock; the bound is {bound:g} s (server.max_client_now_skew_seconds). "
                "An online read returns the latest values, so another instant only moves the "
                'TTL window: omit "now", use get_historical_features for a past instant, or '
                "set server.max_client_now_skew_seconds: null for replays."
            )
        return now

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry: reads take a direct path, everything else goes through the router.

        The read path skips Starlette's request, routing and response objects (about a
        quarter of the server's own time per read); its behaviour is the router's.
        """
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == _READ:
            await self._fast_read(scope, receive, send)
        else:
            await self.router(scope, receive, send)

    async def _fast_read(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        service = ""
        request_id = ""
        headers: dict[bytes, bytes] = dict(scope["headers"])
        try:
            auth = headers.get(b"authorization")
            api_key = headers.get(b"x-api-key")
            principal = self.keys.authenticate(
                presented_key(
                    None if auth is None else auth.decode("latin-1"),
                    None if api_key is None else api_key.decode("latin-1"),
                )
            )
            principal.require(Scope.READ, endpoint=_READ)
            body = await self._receive_body(headers.get(b"content-length"), receive)
            raw_id = headers.get(b"x-request-id")
            content, request_id, service = await self._read(
                body, None if raw_id is None else raw_id.decode("latin-1")
            )
            status = 200
        except Exception as exc:
            if isinstance(exc, OnlineStoreUnavailable):
                self.metrics.online_store_errors.labels(_READ).inc()
            if not isinstance(exc, ParityError):
                logger.exception("%s failed", _READ)
            content, status = dumps(error_body(exc)), status_for(exc)
        answer = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
        if request_id:
            answer.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": answer})
        await send({"type": "http.response.body", "body": content})
        self.hot.request(_READ, service, status, time.perf_counter() - started)

    async def _receive_body(self, declared: bytes | None, receive: Any) -> bytes:
        limit = self.config.max_request_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(
                f"{_READ}: the body is {int(declared)} bytes; the limit is {limit} "
                "(server.max_request_bytes). Split the request."
            )
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest(f"{_READ}: the client disconnected before sending the body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(
                    f"{_READ}: the body is over {limit} bytes (server.max_request_bytes). "
                    "Split the request."
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _observe(self, plan: ServingPlan, views: tuple[str, ...], response: Any) -> None:
        hot = self.hot
        entry = self._observers.get(id(plan))
        if entry is None or entry[0] is not plan:
            if len(self._observers) > 256:
                self._observers.clear()
            reads = tuple(
                (read.outputs, read.outputs[0], view)
                for read, view in zip(plan.reads, views, strict=True)
            )
            entry = (plan, plan.service or "", reads)
            self._observers[id(plan)] = entry
        _, service, reads = entry
        hot.entities(service, len(response.values))
        served = response.served_at
        counts: dict[tuple[str, str], int] = {}
        for statuses, stamps in zip(response.statuses, response.event_timestamps, strict=True):
            for outputs, first, view in reads:
                for j in outputs:
                    key = (view, statuses[j])
                    counts[key] = counts.get(key, 0) + 1
                stamp = stamps[first]
                if stamp is not None:
                    hot.age(view, (served - stamp).total_seconds())
        for (view, status), count in counts.items():
            hot.status(view, status, count)

    async def push(self, request: Request, principal: Principal) -> Response:
        """Validated rows into the online store (every live version) and the offline store."""
        body = await self._body(request)
        parsed = parse_push_request(
            loads_object(body, endpoint="/push"), max_rows=self.config.max_push_rows
        )
        snapshot = await self._snapshot()
        plan = await asyncio.to_thread(self._push_plan, snapshot, parsed.push_source_name)
        # Labelled only once known: unknown names must not grow the metrics' label sets.
        request.state.service = plan.source.name
        now = datetime.now(UTC)
        result = await asyncio.to_thread(self._apply_push, plan, parsed, now)
        self.metrics.rows_pushed.labels(plan.source.name).inc(result.rows_written)
        self.metrics.rows_rejected.labels(plan.source.name).inc(result.rows_rejected)
        status = 422 if result.rows_written == 0 else 200
        return Response(dumps(result.to_dict()), status, media_type=JSON)

    def _apply_push(self, plan: PushPlan, request: PushRequest, now: datetime) -> PushResult:
        # One push per source at a time in this process: Delta appends of the same table
        # and retries of one push id never race each other here (other processes rely on
        # Delta's commit protocol, which refuses a second commit of the same push id).
        with self._push_locks.setdefault(plan.source.name, threading.Lock()):
            return self.store.pusher.apply(plan, request, now=now)

    def _push_plan(self, snapshot: RegistrySnapshot, name: str) -> PushPlan:
        cached = self._push_plans.get(name)
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        plan = self.store.pusher.plan(snapshot, name)
        if len(self._push_plans) > 256:
            self._push_plans.clear()  # bounded: only known names get here, but be safe
        self._push_plans[name] = (snapshot, plan)
        return plan

    async def predict(self, request: Request, principal: Principal) -> Response:
        """Features of the model's pinned service, scored by the production model."""
        body = await self._body(request)
        model, rows = parse_predict_request(loads_object(body, endpoint="/predict"))
        request.state.service = model
        scored = await asyncio.to_thread(self.predictor.predict, model, rows)
        if self.request_log is not None and scored.served is not None and scored.plan is not None:
            self.request_log.record(
                scored.served,
                request_id=scored.request_id,
                plan=scored.plan,
                prediction=scored.prediction,
            )
        return Response(dumps(scored.body), media_type=JSON)

    async def openapi(self, request: Request, principal: Principal) -> Response:
        """The OpenAPI 3.1 document of the whole API, the web UI's JSON API (``/api``,
        :mod:`parity.serve.catalog_api`) merged in (:mod:`parity.serve.openapi`); no key."""
        if self._openapi is None:
            from parity.serve.catalog_api import openapi_document

            self._openapi = dumps(openapi.document(extra=openapi_document()))
        return Response(self._openapi, media_type=JSON)

    async def health(self, request: Request, principal: Principal) -> Response:
        """Liveness: the process answers."""
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def ready(self, request: Request, principal: Principal) -> Response:
        """Readiness = able to serve reads: the online store answers and the serving plans
        are within ``registry_max_staleness_seconds`` (cached plans count). The registry is
        reported apart (``checks.registry``, ``parity_registry_up``): a registry outage
        alone never takes a server out of rotation while its plans may be served.
        """
        checks: dict[str, str] = {}
        online_ok = True
        timeout = (self.config.online_timeout_seconds or 5.0) + 0.5
        probe = functools.partial(probe_online_store, self.store.online_store, self._probe)
        try:
            await asyncio.wait_for(asyncio.to_thread(probe), timeout=timeout)
            checks["online_store"] = "ok"
        except Exception as exc:  # readiness reports every failure, whatever its class
            online_ok = False
            checks["online_store"] = (
                f"unavailable: {exc}" if str(exc) else f"unavailable: {type(exc).__name__}"
            )
            self.metrics.online_store_errors.labels("/ready").inc()
        plans = self.plans
        if plans.age_seconds() is None:
            # Nothing to serve from yet: readiness depends on this first registry answer.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(plans.refresh())), plans.wait_seconds
                )
        registry = self._registry_status()
        checks["registry"] = registry
        age = plans.age_seconds()
        servable = age is not None and age < plans.max_stale_seconds
        if not servable:
            checks["serving_plans"] = str(plans.unreachable(plans.last_error))
        ok = online_ok and servable
        body: dict[str, Any] = {
            "ready": ok,
            "checks": checks,
            "registry_age_seconds": None if age is None else round(age, 3),
            "registry_max_staleness_seconds": plans.max_stale_seconds,
            "pid": os.getpid(),
            "monitor": self.monitor.ready_details(),
        }
        return Response(dumps(body), 200 if ok else 503, media_type=JSON)

    def _registry_status(self) -> str:
        """ "ok", or "unavailable: why" (never waits; starts a refresh when one is due)."""
        plans = self.plans
        age = plans.age_seconds()
        if age is None or age >= plans.ttl_seconds:
            plans.refresh()
        error = plans.last_error
        if error is not None:
            return f"unavailable: {error}" if str(error) else f"unavailable: {type(error).__name__}"
        if age is None:
            return "unavailable: the registry has not answered yet"
        if age > plans.ttl_seconds + plans.wait_seconds:
            return f"unavailable: no answer for {age:.0f} s"
        return "ok"

    async def render_metrics(self, request: Request, principal: Principal) -> Response:
        """Prometheus exposition text."""
        if self.request_log is not None:
            self.metrics.log_pending.set(self.request_log.pending)
        self.hot.flush()
        age = self.plans.age_seconds()
        self.metrics.registry_up.set(1 if self._registry_status() == "ok" else 0)
        self.metrics.plan_age.set(-1 if age is None else age)
        self.metrics.plan_max_staleness.set(self.plans.max_stale_seconds)
        content, media_type = self.metrics.render()
        content += self.monitor.render().encode()
        return Response(content, media_type=media_type)

    async def registry_views(self, request: Request, principal: Principal) -> Response:
        """Every feature view with its versions and states."""
        snapshot = await self._snapshot()
        return Response(dumps({"views": catalog.list_views(snapshot)}), media_type=JSON)

    async def registry_view(self, request: Request, principal: Principal) -> Response:
        """One feature view, every version with its definition."""
        snapshot = await self._snapshot()
        name = request.path_params["name"]
        return Response(dumps(catalog.describe_view(snapshot, name)), media_type=JSON)

    async def registry_services(self, request: Request, principal: Principal) -> Response:
        """Every feature service with its versions and pinned features."""
        snapshot = await self._snapshot()
        return Response(dumps({"services": catalog.list_services(snapshot)}), media_type=JSON)


async def _not_found(request: Request, exc: Exception) -> Response:
    body = {
        "error": {
            "type": "NotFound",
            "message": f"No endpoint {request.url.path}. Endpoints: /get-online-features, "
            "/push, /predict, /health, /ready, /metrics, /registry/views, /registry/services, "
            "/openapi.json, /ui (web UI), /api (its JSON API, in /openapi.json).",
        }
    }
    return Response(dumps(body), 404, media_type=JSON)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    body = {
        "error": {
            "type": "MethodNotAllowed",
            "message": f"{request.method} is not allowed on {request.url.path}; reads and "
            "pushes are POST, probes and the registry GET.",
        }
    }
    return Response(dumps(body), 405, media_type=JSON)


def create_app(
    store: FeatureStore, *, config: ServerConfig | None = None, owns_store: bool = False
) -> FeatureServer:
    """The ASGI application serving ``store`` (``config`` defaults to its ``server:``).

    The caller keeps ``store`` and closes it, unless ``owns_store`` hands it to the app.

    Example:
        >>> app = create_app(FeatureStore("my_repo"))  # doctest: +SKIP
    """
    return FeatureServer(store, config=config, owns_store=owns_store)


def app_from_environment() -> FeatureServer:
    """Factory for worker processes: the repository named by ``PARITY_REPO``.

    Example:
        >>> # uvicorn --factory parity.serve.app:app_from_environment
    """
    return create_app(server_store(os.environ.get(REPO_ENV, ".")), owns_store=True)


def server_store(repo_path: str | Path) -> FeatureStore:
    """The repository's store as a server opens it: ``server.online_timeout_seconds``
    replaces a Redis online store's timeout.

    Example:
        >>> server_store("my_repo").config.online_store.timeout_seconds  # doctest: +SKIP
        1.0
    """
    config = load_config(repo_path)
    timeout = config.server.online_timeout_seconds
    online = config.online_store
    if timeout is not None and online.type == "redis":
        online = online.model_copy(update={"timeout_seconds": timeout})
        config = config.model_copy(update={"online_store": online})
    return FeatureStore(repo_path, config=config)
