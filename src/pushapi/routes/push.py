"""The push endpoints over HTTP (SPEC 3, 3.2): the checks of the request itself (options, rate,
platform, Idempotency-Key, media type, body size and time, what the worker can take on), then
the push pipeline (push/apply.py) in a worker thread; a small push on SQLite, on the event loop
when it need not wait (`_on_the_loop`)."""

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, QueuePool
from starlette.requests import ClientDisconnect

from pushapi.admission import Admission
from pushapi.auth import push_caller
from pushapi.config import Settings
from pushapi.errors import (
    ApiError,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
)
from pushapi.metrics import Metrics
from pushapi.push.apply import (
    KeyedRequest,
    PushAnswer,
    PushLimits,
    PushRequest,
    WouldWait,
    check_platform,
    log_refusal,
    run_push,
)
from pushapi.push.endpoints import PUSH_ENDPOINTS, PushEndpoint
from pushapi.push.options import (
    IDEMPOTENCY_KEY,
    idempotency_key,
    push_options,
    request_fingerprint,
)
from pushapi.ratelimit import RateLimiter
from pushapi.routes.openapi import push_openapi
from pushapi.store.placement import TenantPlacement
from pushapi.tenants import Caller

JSON_MEDIA_TYPES = ("application/json", "text/json")
OUTCOMES = ("created", "updated", "deleted", "unchanged", "rejected")
REPLAYED = "Idempotent-Replayed"
# The status logged and counted for a push whose client went away before its body was read
# (nginx's code for it; no answer reaches anyone).
CLIENT_CLOSED = 499
# A push whose body is at most this large may run on the event loop (`_on_the_loop`).
ON_THE_LOOP_BYTES = 64 * 1024
T = TypeVar("T")


def _check_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type must be application/json or text/json, got {shown}"
        )


def _declared_length(request: Request, limit: int) -> int | None:
    """The body's declared length; 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    return int(declared)


async def _read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The request body: 413 once it exceeds `limit` bytes, 408 when it has not all arrived
    within `seconds`."""
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):  # one deadline for the whole body
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
                parts.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {seconds:g} s") from None
    return b"".join(parts)


def _per_loop(state: Any, name: str, make: Callable[[], T]) -> T:
    """An object of the app bound to the running event loop (asyncio primitives are), made
    again when the app is served by another loop (tests serve one app from several)."""
    loop = asyncio.get_running_loop()
    made = getattr(state, name, None)
    if made is None or made[0] is not loop:
        made = (loop, make())
        setattr(state, name, made)
    return made[1]  # type: ignore[no-any-return]


async def handle_push(endpoint: PushEndpoint, request: Request, caller: Caller) -> Response:
    """Check the request, run the push, answer it; count its records by outcome."""
    state = request.app.state
    settings: Settings = state.settings
    metrics: Metrics = state.metrics
    push = PushRequest(
        request_id=request.state.request_id,
        endpoint=endpoint,
        tenant=caller.tenant,
        key_id=caller.key_id,
        received_at=datetime.now(UTC),
        started=time.perf_counter(),
    )
    rate_headers: dict[str, str] = {}
    query = request.query_params.multi_items()
    try:
        push = dataclasses.replace(push, options=push_options(query))
        if settings.rate_limit_per_minute > 0:
            limiter = _per_loop(state, "rate_limiter", lambda: _limiter(settings))
            decision = await limiter.take(caller.tenant.code)
            rate_headers = decision.headers()
            if not decision.allowed:
                raise RateLimited(
                    f"too many pushes; retry in {decision.reset} s", max(1, decision.reset)
                )
        check_platform(push)
        # Checked in a dry run too (a malformed key is a client's bug worth showing), but a dry
        # run neither keeps nor replays an answer (push/apply.run_push).
        key = idempotency_key(request.headers.getlist(IDEMPOTENCY_KEY))
        _check_media_type(request)
        size = _declared_length(request, settings.max_body_bytes) or settings.max_body_bytes
        admission = _per_loop(state, "admission", lambda: _admission(settings))
        async with admission.push(caller.tenant.tenant_id, size):
            body = await _read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
            keyed = None
            if key is not None:
                fingerprint = request_fingerprint(endpoint.name, query, body)
                ttl = timedelta(hours=settings.idempotency_ttl_hours)
                keyed = KeyedRequest(key, fingerprint, ttl)
            limits = PushLimits.of(settings)
            answer: PushAnswer | None = None
            if keyed is None and len(body) <= ON_THE_LOOP_BYTES and _on_the_loop(state):
                with contextlib.suppress(WouldWait):
                    answer = run_push(state.engine, push, [body], limits, wait=False)
            if answer is None:
                payload = [body]
                del body  # run_push lets go of it once its records are read
                # On Citus, the node that holds the tenant's shards (store/placement.py).
                placement: TenantPlacement = state.placement
                tenant_id = caller.tenant.tenant_id
                engine = placement.cached(tenant_id)
                if engine is None:
                    engine = await run_in_threadpool(placement.engine_for, tenant_id)
                answer = await run_in_threadpool(run_push, engine, push, payload, limits, keyed)
    except ApiError as error:
        if not isinstance(error, Unauthorized):  # (a key revoked since: no caller to log for)
            log_refusal(state.writer, push, error)
        metrics.count_records(endpoint.name, "rejected", error.received)
        error.headers = {**error.headers, **rate_headers}
        raise
    except ClientDisconnect:
        # The client went away while sending the body: nothing was read, nothing is stored,
        # and no answer can reach it.
        return Response(status_code=CLIENT_CLOSED)
    if answer.replayed is not None:
        # The answer kept for the key, with the request id it carried (app.RequestContext).
        request.state.replay_of = answer.replayed.request_id
        headers = {**rate_headers, REPLAYED: "true"}
        return Response(answer.body, answer.status, headers, media_type="application/json")
    result = answer.result
    if result is not None and not push.options.dry_run:  # a dry run changed nothing
        for outcome in OUTCOMES:
            metrics.count_records(endpoint.name, outcome, getattr(result, outcome))
    return Response(answer.body, media_type="application/json", headers=rate_headers)


def _on_the_loop(state: Any) -> bool:
    """Whether a small push (without an Idempotency-Key) may run on the event loop: on SQLite,
    with a pooled connection free for it, so that it never waits there. It then runs only if the
    database's write lock is free too (run_push with wait=False), and in a worker thread
    otherwise, as larger pushes and pushes on PostgreSQL always do.

    On SQLite, writes take turns anyway; the hand-off to a thread and back cost 12-18% of the
    server's CPU time per one-contact push (docs/benchmark.md, "Measured choices"). What the loop
    gives for it: other requests wait while such a push runs, its commit included.
    """
    engine: Engine = state.engine
    if engine.dialect.name != "sqlite":
        return False  # its statements are round trips, and its lock waits are the tenant's
    settings: Settings = state.settings
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return False
    room: int = settings.pool_size + settings.max_overflow - pool.checkedout()
    return room > 1  # (a worker thread may take one meanwhile)


def _limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_storage)


def _admission(settings: Settings) -> Admission:
    return Admission(
        settings.max_inflight_bytes, settings.max_pushes_per_tenant, settings.pool_timeout
    )


def _route(endpoint: PushEndpoint) -> Callable[..., Any]:
    async def push(request: Request) -> Response:
        return await handle_push(endpoint, request, await push_caller(request))

    push.__name__ = f"push_{endpoint.name}"
    push.__doc__ = endpoint.summary
    return push


def build_router() -> APIRouter:
    """A router with one POST route per push endpoint; other methods answer 405."""
    router = APIRouter(tags=["push"])
    for endpoint in PUSH_ENDPOINTS:
        router.add_api_route(
            f"/v2/{endpoint.name}",
            _route(endpoint),
            methods=["POST"],
            summary=endpoint.summary,
            operation_id=f"push_{endpoint.name}",
            **push_openapi(endpoint.schema),
        )
    return router
