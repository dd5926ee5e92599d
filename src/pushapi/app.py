"""The application factory: `create_app(settings)` builds the engine, the routes and the
middleware that gives every request its id, its log line and its metrics."""

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import msgspec
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pushapi import __version__
from pushapi.auth import known_callers
from pushapi.config import Settings
from pushapi.console import console_app
from pushapi.console.pages import PREFIX as CONSOLE_PREFIX
from pushapi.errors import ApiError, InternalFailure, ServiceUnavailable, error_body
from pushapi.logs import ACCESS_LOGGER, configure_logging
from pushapi.metrics import Metrics
from pushapi.push.apply import BUSY_MESSAGE, PushResult
from pushapi.push.endpoints import PUSH_ENDPOINTS
from pushapi.push.options import asks_dry_run
from pushapi.request_ids import new_request_id
from pushapi.routes import changes, groups, lists, ops, push, pushes, records
from pushapi.routes.openapi import components, with_meta
from pushapi.routes.ops import Health
from pushapi.schema.fingerprint import reading_fingerprint
from pushapi.serving import keep_freed_memory
from pushapi.store.background import writer_for
from pushapi.store.changes import ChangeEvent
from pushapi.store.checkpoints import Checkpointer
from pushapi.store.engine import build_engine
from pushapi.store.groups import Group, GroupWithMembers
from pushapi.store.health import health_engine
from pushapi.store.lists import ListSummary, ListWithMembers
from pushapi.store.placement import TenantPlacement
from pushapi.store.pushlog import PushLogEntry
from pushapi.store.retention import Pruner
from pushapi.webhooks import Deliverer, delivery_engine

access_log = logging.getLogger(ACCESS_LOGGER)
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}
# Label values of the request metrics: a fixed set, whatever the requests (a made-up method or
# path would otherwise add a series each).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
OTHER_METHOD = "other"
UNMATCHED = "unmatched"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class RequestContext:
    """Pure ASGI middleware: request id, X-Request-Id header, 500 without internals, access log
    line and metrics, for every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                # A replay of an Idempotency-Key carries the id of the answer it repeats.
                shown = scope["state"].get("replay_of") or request_id
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", shown.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            access_log.exception("unexpected failure", extra={"fields": {"request_id": request_id}})
            if not response_started:
                body = error_body(
                    "internal_error", "unexpected failure; nothing was changed", request_id
                )
                await _json(500, body)(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = scope.get("route")
            # A mounted application's routes (the console's) are named with their mount path.
            endpoint = scope.get("root_path", "") + route.path if route else UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            self.metrics.observe_request(endpoint, method, status, duration)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "tenant": scope["state"].get("tenant"),
                        "method": method,
                        "endpoint": endpoint,
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        **_replay_field(scope["state"]),
                    }
                },
            )


class DirectPushes:
    """Pure ASGI middleware: a push request goes straight to its route (routes/push.py). The
    framework's layers between (its middleware, routing, request handling) do nothing for a
    push route, which declares no parameters or dependencies and answers its own Response, yet
    they took a tenth of the server's CPU time per one-contact push (docs/benchmark.md,
    "Measured choices"). What they would do is done here: the route is noted for the metrics
    and the access log, and an ApiError or a busy database answered by the same handlers.
    Every other request, and a push served under a root path, goes through the framework."""

    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self.routes = {route.path: route for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            route = self.routes.get(scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive, send)
        response: Response
        try:
            response = await route.endpoint(request)
        except ApiError as error:
            response = await _api_error(request, error)
        except (PoolTimeout, OperationalError) as error:
            response = await _database_busy(request, error)
        await response(scope, receive, send)


def _replay_field(state: dict[str, Any]) -> dict[str, str]:
    """The access log's mark of a replayed answer: the request id it repeats."""
    replay_of = state.get("replay_of")
    return {} if replay_of is None else {"replay_of": replay_of}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


PUSH_PATHS = frozenset(f"/v2/{endpoint.name}" for endpoint in PUSH_ENDPOINTS)


def _error_body(request: Request, error: ApiError) -> bytes:
    """An error's body; in answer to a push asking for a dry run, marked as one (SPEC 3.2)."""
    if request.url.path in PUSH_PATHS and asks_dry_run(request.query_params.multi_items()):
        error.extra["dryRun"] = True
    return error.encoded(_request_id(request))


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    cause = error.__cause__
    if isinstance(error, InternalFailure) and cause is not None:
        # What failed, for the operator (logs never hold its message: describe_exception).
        access_log.error(
            "unexpected failure",
            exc_info=(type(cause), cause, cause.__traceback__),
            extra={"fields": {"request_id": _request_id(request)}},
        )
    return Response(
        _error_body(request, error),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers or None,
    )


async def _database_busy(request: Request, error: Exception) -> Response:
    # A read (or the key check) that got no database connection in time, or found the
    # database busy or away: 503, which clients retry (never a 500 for that).
    busy = ServiceUnavailable(BUSY_MESSAGE)
    return _json(busy.status, busy.body(_request_id(request)), busy.headers)


def _install_error_handlers(app: FastAPI) -> None:
    """SPEC 3: every error, ours or the framework's, has the one error shape."""

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
        body = error_body(code, str(error.detail), _request_id(request))
        return _json(error.status_code, body, dict(error.headers or {}) or None)

    async def invalid_parameter(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = [
            f"{'.'.join(str(part) for part in e['loc'][1:])}: {e['msg']}" for e in error.errors()
        ]
        body = error_body("invalid_parameter", "; ".join(problems), _request_id(request))
        return _json(400, body)

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(PoolTimeout, _database_busy)
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_parameter)


def _install_openapi(app: FastAPI) -> None:
    """Add the object schemas, derived from the field tables, to the generated document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in document["paths"].values():
                for operation in operations.values():
                    # FastAPI declares 422 for parameters; a bad parameter answers 400 here
                    # (the push endpoints' own 422 is idempotency_key_reused).
                    responses = operation["responses"]
                    if responses.get("422", {}).get("description") == "Validation Error":
                        del responses["422"]
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            read_forms = {
                "ContactRead": with_meta("ContactInfo"),
                "MeetingRead": with_meta("Meeting"),
                "ProductRead": with_meta("Product"),
            }
            structs = [PushResult, PushLogEntry, Group, GroupWithMembers, ListSummary, Health]
            structs += [ListWithMembers, ChangeEvent]
            schemas.update(components([e.schema for e in PUSH_ENDPOINTS], read_forms, structs))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for `settings` (read from the environment when not given)."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    engine = build_engine(settings)
    placement = TenantPlacement(engine, settings)
    writer = writer_for(engine)
    reading_fingerprint()  # read from the source once, now rather than in the first push

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pruner = Pruner(engine, settings.pushlog_retention_days, settings.changes_retention_days)
        pruner.start()
        checkpointer = Checkpointer(engine) if Checkpointer.applies(engine) else None
        if checkpointer is not None:
            checkpointer.start()
        app.state.checkpointer = checkpointer
        deliverer = None
        if settings.webhooks_delivery == "on":
            deliverer = Deliverer(
                delivery_engine(settings),
                timedelta(hours=settings.webhook_disable_hours),
                app.state.metrics,
            )
            deliverer.start()
        yield
        if deliverer is not None:
            deliverer.stop()
            deliverer.engine.dispose()
        pruner.stop()
        limiter = getattr(app.state, "rate_limiter", None)  # (event loop, RateLimiter)
        if limiter is not None and limiter[0] is asyncio.get_running_loop():
            await limiter[1].close()
        app.state.console.state.sign_in_lock.close()
        writer.close()
        if checkpointer is not None:  # after the last writes
            checkpointer.stop()
        placement.dispose()
        engine.dispose()
        app.state.health_engine.dispose()

    app = FastAPI(
        title="pushapi",
        version=__version__,
        description="Push API v2: push contacts, groups, lists, meetings, products and orders.",
        lifespan=lifespan,
        redoc_url=None,
        docs_url=None,  # served by routes/ops.py from local assets
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.placement = placement
    app.state.writer = writer
    app.state.known_callers = known_callers()
    app.state.health_engine = health_engine(engine.url)
    app.state.metrics = Metrics()
    _install_error_handlers(app)
    push_router = push.build_router()
    app.include_router(push_router)
    app.include_router(records.build_router())
    app.mount(ops.DOCS_ASSETS_URL, ops.DOCS_ASSETS, name="docs-assets")
    app.state.console = console_app(settings, engine, writer)
    app.mount(CONSOLE_PREFIX, app.state.console, name="console")
    for module in (groups, lists, pushes, changes, ops):
        app.include_router(module.router)
    _install_openapi(app)
    push_routes = [route for route in push_router.routes if isinstance(route, APIRoute)]
    app.add_middleware(DirectPushes, routes=push_routes)
    app.add_middleware(RequestContext, metrics=app.state.metrics)  # (the outer one)
    return app


GC_THRESHOLD = 50_000  # allocations between collections of the youngest generation


def create_app_from_environment() -> FastAPI:
    """The factory `pushapi serve` hands to uvicorn; each worker process calls it once."""
    settings = Settings()
    keep_freed_memory(settings.malloc_keep_mib)
    app = create_app(settings)
    # Everything alive now (modules, the app, the engine) lives as long as the process: the
    # cyclic garbage collector need not walk it again during every push.
    gc.collect()
    gc.freeze()
    # The objects of a push live until its end and are freed by reference counting: collecting
    # the youngest generation every 700 allocations walked them over and over
    # (docs/benchmark.md, "Measured choices").
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    return app
