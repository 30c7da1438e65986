"""HTTP routes (Starlette): request deadlines, JSON bodies, ``X-Degraded``, /health and /ready.

Every request gets a deadline (``APP_REQUEST_DEADLINE_S``); the guards share it out among their
dependency calls, less a small reserve for answering with a fallback; the whole handler is also
bounded by it, so no answer comes later than the
deadline plus scheduling noise (503 ``deadline exceeded`` in that case). In fragile mode there is
no deadline at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import cache as cache_mod
from app import search as search_mod
from app import store as store_mod
from app.config import Settings
from app.resilience import Guard, deadline, guard
from app.service import BadRequest, Reply, Service

log = logging.getLogger("app.web")
Handler = Callable[[Request], Awaitable[Reply]]


class Deps:
    """The dependencies of one process, built from the settings in the chosen mode."""

    def __init__(self, settings: Settings) -> None:
        s = settings
        common = {"fragile": s.fragile, "fail_max": s.breaker_fail_max, "reset_s": s.breaker_reset_s,
                  "wait_max_s": s.retry_wait_max_s}
        self.pg_guard = guard("postgres", timeout_s=s.pg_timeout_s, failures=store_mod.FAILURES,
                              attempts=s.retry_attempts, **common)  # type: ignore[arg-type]
        self.store = store_mod.Store(s.database_url, self.pg_guard, pool_max=s.pg_pool_max,
                                     connect_timeout_s=None if s.fragile else s.pg_timeout_s)
        self.cache: cache_mod.Cache | None = None
        self.index: search_mod.SearchIndex | None = None
        if s.redis_url:
            g = guard("redis", timeout_s=s.redis_timeout_s, failures=cache_mod.FAILURES, attempts=1, **common)  # type: ignore[arg-type]
            self.cache = cache_mod.Cache(s.redis_url, g, keep_s=s.cache_keep_s)
        if s.elasticsearch_url:
            g = guard("elasticsearch", timeout_s=s.es_timeout_s, failures=search_mod.FAILURES,
                      attempts=s.retry_attempts, **common)  # type: ignore[arg-type]
            self.index = search_mod.SearchIndex(s.elasticsearch_url, s.elasticsearch_index, g)
        self.service = Service(self.store, self.cache, self.index, fresh_s=s.cache_fresh_s,
                               idempotency_ttl_s=s.idempotency_ttl_s)
        self.schema_task: asyncio.Task[None] | None = None

    def probes(self) -> dict[str, tuple[Guard | None, Callable[[], Awaitable[None]] | None]]:
        return {"postgres": (self.pg_guard, self.store.ping),
                "redis": (self.cache.guard, self.cache.ping) if self.cache else (None, None),
                "elasticsearch": (self.index.guard, self.index.ping) if self.index else (None, None)}


def to_response(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.degraded:
        headers["X-Degraded"] = ",".join(dict.fromkeys(reply.degraded))
    return JSONResponse(reply.body, reply.status, headers=headers)


def deadline_exceeded(deadline_s: float) -> Response:
    return JSONResponse({"error": f"no answer within the request deadline of {deadline_s:g} s"}, 503,
                        headers={"Retry-After": "1"})


def reserve_s(deadline_s: float) -> float:
    """The part of the deadline kept back from dependency calls, to answer with a fallback in time."""
    return min(0.25, deadline_s * 0.1)


def bounded(settings: Settings, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint: ``handler`` under the request deadline (none in fragile mode), errors as JSON."""
    async def run(request: Request) -> Response:
        try:
            return to_response(await handler(request))
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, exc.status)

    async def endpoint(request: Request) -> Response:
        if settings.fragile:
            return await run(request)
        token = deadline.set(time.monotonic() + settings.request_deadline_s - reserve_s(settings.request_deadline_s))
        try:
            return await asyncio.wait_for(run(request), settings.request_deadline_s)
        except TimeoutError:
            return deadline_exceeded(settings.request_deadline_s)
        finally:
            deadline.reset(token)

    return endpoint


async def json_body(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON", 400) from None


def path_id(request: Request, name: str) -> int:
    value = request.path_params[name]
    if not 1 <= value < 2**63:
        raise BadRequest(f"{name} must be from 1 to 2**63-1", 400)
    return value


async def readiness(deps: Deps, settings: Settings) -> tuple[int, dict[str, Any]]:
    """Probe each dependency once (bounded by its timeout), report it with its breaker's state."""
    async def probe(name: str, g: Guard | None, ping: Callable[[], Awaitable[None]] | None) -> dict[str, Any]:
        if g is None or ping is None:
            return {"configured": False}
        started = time.monotonic()
        try:
            await ping()
            error = None
        except Exception as exc:  # any failure of the probe is the dependency's state, not ours
            error = f"{type(exc).__name__}: {exc}".strip()[:200]
        return {"configured": True, "up": error is None, "breaker": g.state,
                "latency_ms": round((time.monotonic() - started) * 1000, 1), "error": error}

    probes = deps.probes()
    results = await asyncio.gather(*(probe(name, *p) for name, p in probes.items()))
    dependencies = dict(zip(probes, results))
    dependencies["postgres"]["schema_ready"] = deps.store.schema_ready.is_set()
    degraded = [name for name, d in dependencies.items()
                if d["configured"] and (not d["up"] or d["breaker"] not in ("closed", "none"))]
    serving = dependencies["postgres"]["up"] and deps.store.schema_ready.is_set()
    status = ("unavailable" if not serving else "degraded" if degraded else "ready")
    return (200 if serving else 503), {"status": status, "fragile": settings.fragile, "degraded": degraded,
                                       "dependencies": dependencies}


def create_app(settings: Settings | None = None) -> Starlette:
    """The ASGI app; reads the environment when no settings are given (uvicorn's factory mode)."""
    settings = settings or Settings.from_env(os.environ)
    deps = Deps(settings)
    svc = deps.service

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        log.warning("app starting: %s", settings.describe())
        await deps.store.open()
        deps.schema_task = asyncio.create_task(deps.store.ensure_schema())
        try:
            yield
        finally:
            deps.schema_task.cancel()
            for closing in (deps.cache, deps.index):
                if closing is not None:
                    await closing.close()
            await deps.store.close()

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "fragile": settings.fragile})

    async def ready(_request: Request) -> Response:
        code, body = await readiness(deps, settings)
        return JSONResponse(body, code)

    async def get_item(request: Request) -> Reply:
        return await svc.get_item(path_id(request, "item_id"))

    async def create_item(request: Request) -> Reply:
        return await svc.create_item(await json_body(request))

    async def get_order(request: Request) -> Reply:
        return await svc.get_order(path_id(request, "order_id"))

    async def place_order(request: Request) -> Reply:
        return await svc.place_order(request.headers.get("idempotency-key"), await json_body(request))

    async def search(request: Request) -> Reply:
        try:
            limit = int(request.query_params.get("limit", "10"))
        except ValueError:
            raise BadRequest("limit must be a whole number", 400) from None
        return await svc.search(request.query_params.get("q", ""), limit)

    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(path, bounded(settings, handler), methods=[method])

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        route("/items", create_item, "POST"),
        route("/items/{item_id:int}", get_item, "GET"),
        route("/orders", place_order, "POST"),
        route("/orders/{order_id:int}", get_order, "GET"),
        route("/search", search, "GET"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.deps = deps
    app.state.settings = settings
    return app
