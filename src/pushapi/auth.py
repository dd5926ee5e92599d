"""Who is calling: the `ApiKey` header resolved to a tenant, checked against the region."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from pushapi.errors import MisdirectedRegion, Unauthorized
from pushapi.store.tenants import authenticate, use_is_due
from pushapi.tenants import Caller

API_KEY_HEADER = "ApiKey"
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="The tenant's API key (SPEC 3)"
)


def current_caller(
    request: Request, api_key: Annotated[str | None, Depends(api_key_header)]
) -> Caller:
    """The authenticated caller; 401 for a missing, unknown or revoked key, or for several
    ApiKey headers; 421 for a tenant hosted in another region."""
    presented = len(request.headers.getlist(API_KEY_HEADER))
    if presented > 1:
        # Which of them would count is up to each proxy on the way: none does.
        raise Unauthorized(f"{presented} ApiKey headers; send exactly one")
    app_state = request.app.state
    caller = authenticate(app_state.engine, api_key)
    if caller is None:
        message = "missing ApiKey header" if not api_key else "unknown or revoked API key"
        raise Unauthorized(message)
    now = datetime.now(UTC)
    if use_is_due(caller, now):
        app_state.writer.key_used(caller.tenant.tenant_id, caller.key_id, now)
    request.state.tenant = caller.tenant.code
    region = app_state.settings.region
    if caller.tenant.region != region:
        raise MisdirectedRegion(
            f"tenant {caller.tenant.code!r} is hosted in region {caller.tenant.region!r}; "
            f"this server serves region {region!r}"
        )
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]
