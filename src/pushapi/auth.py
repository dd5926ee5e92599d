"""Who is calling: the `ApiKey` header resolved to a tenant, checked against the region.

Reads look the key up on every request (`CallerDep`). Pushes (`push_caller`) take a caller
this server process found for the same key within the last minute, without a database round
trip or a thread hand-off; the push's write transaction then checks that the key is still in
force (push/apply.py), so a revoked key is refused at once all the same.
"""

import dataclasses
from datetime import UTC, datetime
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from pushapi.errors import MisdirectedRegion, Unauthorized
from pushapi.store.tenants import authenticate, use_is_due
from pushapi.tenants import Caller

API_KEY_HEADER = "ApiKey"
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="The tenant's API key (SPEC 3)"
)
# Callers of pushes remembered per server process: keys, and seconds.
KNOWN_CALLERS = 10_000
KNOWN_FOR_SECONDS = 60

KnownCallers = TTLCache[str, Caller]


def known_callers() -> KnownCallers:
    """The callers a process remembers for pushes (one per app, used on its event loop only)."""
    return TTLCache(maxsize=KNOWN_CALLERS, ttl=KNOWN_FOR_SECONDS)


def _one_key(request: Request) -> None:
    presented = len(request.headers.getlist(API_KEY_HEADER))
    if presented > 1:
        # Which of them would count is up to each proxy on the way: none does.
        raise Unauthorized(f"{presented} ApiKey headers; send exactly one")


def _found(caller: Caller | None, api_key: str | None) -> Caller:
    if caller is None:
        message = "missing ApiKey header" if not api_key else "unknown or revoked API key"
        raise Unauthorized(message)
    return caller


def _admitted(request: Request, caller: Caller) -> Caller:
    """The caller, once its key's use is recorded when due (off the request), and checked to
    be hosted in this server's region (421 otherwise)."""
    app_state = request.app.state
    now = datetime.now(UTC)
    if use_is_due(caller, now):
        app_state.writer.key_used(caller.tenant.tenant_id, caller.key_id, now)
        caller = dataclasses.replace(caller, last_used_at=now)
    request.state.tenant = caller.tenant.code
    region = app_state.settings.region
    if caller.tenant.region != region:
        raise MisdirectedRegion(
            f"tenant {caller.tenant.code!r} is hosted in region {caller.tenant.region!r}; "
            f"this server serves region {region!r}"
        )
    return caller


def current_caller(
    request: Request, api_key: Annotated[str | None, Depends(api_key_header)]
) -> Caller:
    """The authenticated caller; 401 for a missing, unknown or revoked key, or for several
    ApiKey headers; 421 for a tenant hosted in another region."""
    _one_key(request)
    caller = authenticate(request.app.state.engine, api_key)
    return _admitted(request, _found(caller, api_key))


async def push_caller(request: Request) -> Caller:
    """current_caller for a push: a caller found for the key in the last minute is taken as it
    is (the push checks the key again inside its transaction); else the key is looked up.
    Called by the push routes themselves (FastAPI's dependency resolution costs more than the
    rest of it), which declare the same security for the OpenAPI (`PUSH_SECURITY`)."""
    _one_key(request)
    api_key = request.headers.get(API_KEY_HEADER) or None
    known: KnownCallers = request.app.state.known_callers
    caller = known.get(api_key) if api_key else None
    if caller is None:
        found = await run_in_threadpool(authenticate, request.app.state.engine, api_key)
        caller = _found(found, api_key)
    assert api_key is not None  # (_found refused a missing key)
    admitted = _admitted(request, caller)
    if admitted is not caller or caller is not known.get(api_key):
        known[api_key] = admitted  # found now, or its last use just recorded
    return admitted


CallerDep = Annotated[Caller, Depends(current_caller)]
# What CallerDep puts in a route's OpenAPI operation.
PUSH_SECURITY: list[dict[str, list[str]]] = [{api_key_header.scheme_name: []}]
