"""What one worker takes on at once (SPEC 3, docs/operations.md "Memory"): bytes of push bodies
within PUSHAPI_MAX_INFLIGHT_BYTES and pushes of one tenant within PUSHAPI_MAX_PUSHES_PER_TENANT;
beyond, a push waits, then answers 503 with Retry-After, and other tenants go on."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pushapi.admission import RETRY_AFTER, Admission
from pushapi.errors import ServiceUnavailable
from pushapi.store.engine import write_transaction

PUSH = "/v2/contactinfo"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_bytes_over_the_budget_wait_then_are_refused_with_retry_after():
    async def scenario() -> None:
        admission = Admission(max_bytes=100, per_tenant=5, wait_seconds=0.2)
        async with admission.push(1, 60):
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                async with admission.push(2, 50):
                    pytest.fail("admitted over the budget")
            assert time.monotonic() - started >= 0.2
            assert refused.value.headers == {"Retry-After": str(RETRY_AFTER)}
            async with admission.push(3, 40):  # fits beside the first
                assert admission.in_flight == 100
        assert admission.in_flight == 0

    run(scenario())


def test_a_push_waiting_for_the_budget_goes_on_when_it_comes_free():
    async def scenario() -> list[str]:
        admission = Admission(max_bytes=100, per_tenant=5, wait_seconds=5)
        order: list[str] = []

        async def first() -> None:
            async with admission.push(1, 80):
                order.append("first in")
                await asyncio.sleep(0.2)
            order.append("first out")

        async def second() -> None:
            await asyncio.sleep(0.05)
            async with admission.push(2, 80):
                order.append("second in")

        await asyncio.gather(first(), second())
        return order

    assert run(scenario()) == ["first in", "first out", "second in"]


def test_a_push_larger_than_the_whole_budget_is_taken_when_nothing_else_runs():
    async def scenario() -> None:
        admission = Admission(max_bytes=100, per_tenant=5, wait_seconds=0.1)
        async with admission.push(1, 500):
            assert admission.in_flight == 500
            with pytest.raises(ServiceUnavailable):
                async with admission.push(2, 1):
                    pytest.fail("admitted beside a push over the budget")

    run(scenario())


def test_one_tenants_pushes_beyond_its_share_wait_and_other_tenants_go_on():
    async def scenario() -> None:
        admission = Admission(max_bytes=1000, per_tenant=2, wait_seconds=0.1)
        async with admission.push(1, 10), admission.push(1, 10):
            with pytest.raises(ServiceUnavailable):
                async with admission.push(1, 10):
                    pytest.fail("a third push of tenant 1 admitted")
            async with admission.push(2, 10):
                assert admission.pushes == {1: 2, 2: 1}
        assert admission.pushes == {}

    run(scenario())


def test_a_tenant_queueing_pushes_leaves_connections_for_the_others(
    start_server, engine, engine_name, make_tenant
):
    """Tenant A's pushes wait for A's writer (held here); A holds at most its share of the
    worker's connections, so B's reads, B's pushes (PostgreSQL: tenants write in parallel) and
    /healthz are answered meanwhile, and A's pushes beyond its share are refused with 503."""
    server = start_server(env={"PUSHAPI_POOL_TIMEOUT": "1", "PUSHAPI_BUSY_TIMEOUT_MS": "8000"})
    a, b = make_tenant(), make_tenant()
    body = [{"ContactDetails": {"ContactId": "C1", "LastName": "Lee"}}]

    def push(tenant: Any) -> httpx.Response:
        return httpx.post(server.base_url + PUSH, json=body, headers=tenant.headers, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        with write_transaction(engine, a.tenant_id):
            queued = [pool.submit(push, a) for _ in range(6)]
            # A's share waits for its writer; the rest is refused (however busy the machine).
            deadline = time.monotonic() + 30
            while sum(f.done() for f in queued) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # (and no more than those four are answered)
            refused = [f.result() for f in queued if f.done()]
            read = httpx.get(server.base_url + "/v2/contacts", headers=b.headers, timeout=10)
            health = httpx.get(server.base_url + "/healthz", timeout=10)
            other = push(b) if engine_name == "postgresql" else None
        answers = [f.result() for f in queued]  # A's writer is free again
    assert len(refused) == 4, [r.status_code for r in refused]
    for answer in refused:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == str(RETRY_AFTER)
        assert "too many pushes in progress" in answer.json()["message"]
    assert sorted(a.status_code for a in answers) == [200, 200, 503, 503, 503, 503], [
        a.text for a in answers
    ]
    assert read.status_code == 200, read.text
    assert health.status_code == 200, health.text
    if other is not None:
        assert other.status_code == 200, other.text
