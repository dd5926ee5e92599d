"""The push endpoints over HTTP (SPEC 3): the checks of the request itself (platform, rate,
media type, body size), then the push pipeline (push/apply.py) in a worker thread."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from pushapi.auth import CallerDep
from pushapi.config import Settings
from pushapi.errors import ApiError, PayloadTooLarge, RateLimited, UnsupportedMediaType
from pushapi.metrics import Metrics
from pushapi.push.apply import PushRequest, PushResult, check_platform, log_refusal, run_push
from pushapi.push.endpoints import PUSH_ENDPOINTS, PushEndpoint
from pushapi.routes.openapi import push_openapi
from pushapi.store.documents import dump_document
from pushapi.tenants import Caller

JSON_MEDIA_TYPES = ("application/json", "text/json")
OUTCOMES = ("created", "updated", "deleted", "unchanged")


def _check_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type must be application/json or text/json, got {shown}"
        )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


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
    try:
        try:
            check_platform(push)
            retry_after = state.rate_limiter.retry_after(caller.tenant.tenant_id)
            if retry_after is not None:
                raise RateLimited(f"too many pushes; retry in {retry_after} s", retry_after)
            _check_media_type(request)
            payload = [await _read_body(request, settings.max_body_bytes)]
        except ApiError as refused:
            await run_in_threadpool(log_refusal, state.engine, push, refused, [])
            raise
        result: PushResult = await run_in_threadpool(
            run_push, state.engine, push, payload, settings.max_records
        )
    except ApiError as error:
        metrics.count_records(endpoint.name, "rejected", error.received)
        raise
    for outcome in OUTCOMES:
        metrics.count_records(endpoint.name, outcome, getattr(result, outcome))
    return Response(dump_document(result), media_type="application/json")


def _route(endpoint: PushEndpoint) -> Callable[..., Any]:
    async def push(request: Request, caller: CallerDep) -> Response:
        return await handle_push(endpoint, request, caller)

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
