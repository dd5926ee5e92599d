"""What one worker takes on at once: bytes of push bodies, and pushes per tenant.

A push costs memory in proportion to its body (its records, then its stored documents), so the
bytes of bodies being processed are budgeted per worker (PUSHAPI_MAX_INFLIGHT_BYTES): beyond the
budget a push waits, then is refused with 503 and Retry-After, and a worker's peak memory stays
bounded however many clients push at once (docs/operations.md, "Memory"). A push larger than the
whole budget is taken when nothing else is in flight.

The pushes of one tenant wait for each other anyway (one writer per tenant), and each waits
holding a database connection: so a worker processes at most PUSHAPI_MAX_PUSHES_PER_TENANT of
them at once, and the others wait here, holding nothing, so that one tenant's queue cannot take
every connection other tenants need.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pushapi.errors import ServiceUnavailable

RETRY_AFTER = 2  # seconds, for a push refused here


class Admission:
    """The budget of one worker (one event loop)."""

    def __init__(self, max_bytes: int, per_tenant: int, wait_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.per_tenant = per_tenant
        self.wait_seconds = wait_seconds
        self.in_flight = 0
        self.pushes: dict[int, int] = {}
        self._changed = asyncio.Condition()
        self._waiting = 0  # pushes waiting for the budget

    def _fits(self, tenant_id: int, size: int) -> bool:
        if self.pushes.get(tenant_id, 0) >= self.per_tenant:
            return False
        return self.in_flight == 0 or self.in_flight + size <= self.max_bytes

    @asynccontextmanager
    async def push(self, tenant_id: int, size: int) -> AsyncIterator[None]:
        """Hold `size` bytes of the budget and one push of the tenant while the block runs;
        ServiceUnavailable when they do not come free within the wait.

        A push that fits is taken at once, without waiting on the condition: this worker's
        pushes all run on its one event loop, so nothing changes the budget between the check
        and the taking (a task and a turn of the loop saved on every push)."""
        if not self._fits(tenant_id, size):
            await self._wait_until_fits(tenant_id, size)
        self.in_flight += size
        self.pushes[tenant_id] = self.pushes.get(tenant_id, 0) + 1
        try:
            yield
        finally:
            self.in_flight -= size
            left = self.pushes[tenant_id] - 1
            if left:
                self.pushes[tenant_id] = left
            else:
                del self.pushes[tenant_id]
            if self._waiting:
                async with self._changed:
                    self._changed.notify_all()

    async def _wait_until_fits(self, tenant_id: int, size: int) -> None:
        """Wait until the push fits (back on the loop, nothing between the check and the
        caller's taking); ServiceUnavailable after the wait."""
        self._waiting += 1
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._fits(tenant_id, size)),
                    self.wait_seconds,
                )
        except TimeoutError:
            raise ServiceUnavailable(
                "too many pushes in progress on this server; retry shortly", RETRY_AFTER
            ) from None
        finally:
            self._waiting -= 1
