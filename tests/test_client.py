"""The Python client (pushapi.client) against a real server process, and in-process through a
swapped transport: batching under both limits, retries, typed errors, reads."""

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import ServerProcess, free_port, launch_server

from pushapi.app import create_app
from pushapi.client import (
    AsyncPushClient,
    ConnectionFailed,
    NotFound,
    NotSupportedForPlatform,
    PushClient,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)


def launch(database_url: str, log_path: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """Start `pushapi serve` on the database, with `env` added to the environment."""
    return launch_server(
        ["--database-url", database_url], log_path, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server process for the module's tests; each test works in a tenant of its own."""
    process = launch(database_url, tmp_path_factory.mktemp("server") / "server.log")
    yield process
    process.stop()


def contact(n: int, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": f"C{n:04d}", "LastName": f"Last{n}", **details}}


class FaultTransport(httpx.BaseTransport):
    """Answers the first requests with scripted faults, then passes requests to the network."""

    def __init__(self, *faults: Callable[[httpx.Request, httpx.BaseTransport], httpx.Response]):
        self.faults = list(faults)
        self.network = httpx.HTTPTransport()
        self.bodies: list[bytes] = []
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0)(request, self.network)
        return self.network.handle_request(request)

    def close(self) -> None:
        self.network.close()


def answer(status: int, **headers: str) -> Callable[..., httpx.Response]:
    def fault(request: httpx.Request, _network: httpx.BaseTransport) -> httpx.Response:
        return httpx.Response(status, json={"error": "scripted", "message": "m"}, headers=headers)

    return fault


def refuse(request: httpx.Request, _network: httpx.BaseTransport) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def lose_answer(request: httpx.Request, network: httpx.BaseTransport) -> httpx.Response:
    """Deliver the request, then lose the server's answer on the way back."""
    response = network.handle_request(request)
    response.read()
    response.close()
    raise httpx.ReadError("connection reset", request=request)


def test_push_splits_records_into_batches_of_batch_size(server, tenant):
    with PushClient(server.base_url, tenant.api_key) as client:
        summary = client.push_contacts([contact(n) for n in range(25)], batch_size=10)
        log = list(client.iter_pushes())
    assert [(b.first, b.count, b.status) for b in summary.batches] == [
        (0, 10, 200),
        (10, 10, 200),
        (20, 5, 200),
    ]
    assert (summary.created, summary.received, summary.ok) == (25, 25, True)
    assert sorted(entry["received"] for entry in log) == [5, 10, 10]
    assert {entry["requestId"] for entry in log} == {b.request_id for b in summary.batches}


STRICT_BODY_BYTES, STRICT_RECORDS, STRICT_PUSHES_PER_MINUTE = 2000, 4, 20


@pytest.fixture(scope="module")
def strict_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with small limits: 2000-byte bodies, 4 records and 20 pushes a minute per tenant."""
    env = {
        "PUSHAPI_MAX_BODY_BYTES": str(STRICT_BODY_BYTES),
        "PUSHAPI_MAX_RECORDS": str(STRICT_RECORDS),
        "PUSHAPI_RATE_LIMIT_PER_MINUTE": str(STRICT_PUSHES_PER_MINUTE),
    }
    process = launch(database_url, tmp_path_factory.mktemp("strict") / "server.log", env)
    yield process
    process.stop()


def test_push_splits_by_encoded_size_under_the_body_limit(strict_server, tenant):
    transport = FaultTransport()
    records = [contact(n, Bio="x" * 500) for n in range(12)]
    with PushClient(
        strict_server.base_url, tenant.api_key, transport=transport,
        max_batch_bytes=STRICT_BODY_BYTES,
    ) as client:  # fmt: skip
        summary = client.push_contacts(records, batch_size=1000)
    assert summary.ok and summary.created == 12
    assert [b.count for b in summary.batches] == [3, 3, 3, 3]  # 3 x ~570 bytes fit, 4 do not
    assert all(len(body) <= STRICT_BODY_BYTES for body in transport.bodies)


def test_push_halves_a_batch_the_server_finds_too_large(strict_server, tenant):
    transport = FaultTransport()
    with PushClient(strict_server.base_url, tenant.api_key, transport=transport) as client:
        summary = client.push_contacts([contact(n) for n in range(10)], batch_size=10)
        stored = [c["ContactDetails"]["ContactId"] for c in client.iter_contacts()]
    assert summary.ok and summary.created == 10
    assert all(batch.count <= STRICT_RECORDS for batch in summary.batches)
    assert len(transport.bodies) > len(summary.batches)
    assert [b.first for b in summary.batches] == sorted(b.first for b in summary.batches)
    assert sum(b.count for b in summary.batches) == 10
    assert stored == [f"C{n:04d}" for n in range(10)]


def test_rejected_batch_reports_input_indexes_and_other_batches_apply(server, tenant):
    records = [contact(n) for n in range(30)]
    records[14]["ContactDetails"]["Birthday"] = "yesterday"
    records[17]["ContactDetails"]["IsMember"] = "perhaps"
    with PushClient(server.base_url, tenant.api_key) as client:
        summary = client.push_contacts(records, batch_size=10)
        assert client.get_contact("C0009")["ContactDetails"]["LastName"] == "Last9"
        assert client.get_contact("C0020")["ContactDetails"]["LastName"] == "Last20"
        with pytest.raises(NotFound):
            client.get_contact("C0010")
    assert [b.status for b in summary.batches] == [200, 400, 200]
    assert (summary.created, sum(b.count for b in summary.rejected)) == (20, 10)
    assert [(e.index, e.path) for e in summary.errors] == [
        (14, "ContactDetails.Birthday"),
        (17, "ContactDetails.IsMember"),
    ]
    with pytest.raises(ValidationFailed) as raised:
        summary.raise_for_errors()
    assert raised.value.status == 400
    assert [e.index for e in raised.value.errors] == [14, 17]
    assert raised.value.request_id == summary.rejected[0].request_id


def test_retry_honours_retry_after_of_a_429(server, tenant):
    sleeps: list[float] = []
    transport = FaultTransport(answer(429, **{"Retry-After": "7"}))
    with PushClient(
        server.base_url, tenant.api_key, transport=transport, sleep=sleeps.append
    ) as client:
        summary = client.push_contacts([contact(1)])
    assert sleeps == [7.0]
    assert (summary.created, summary.retries, len(transport.bodies)) == (1, 1, 2)


def test_retry_on_503_and_connection_errors_with_growing_backoff(server, tenant):
    sleeps: list[float] = []
    notices: list[str] = []
    transport = FaultTransport(answer(503), refuse, answer(502))
    with PushClient(
        server.base_url, tenant.api_key, transport=transport, backoff=1.0,
        sleep=sleeps.append, on_retry=lambda seconds, reason: notices.append(reason),
    ) as client:  # fmt: skip
        summary = client.push_contacts([contact(1)])
    assert summary.created == 1
    assert len(sleeps) == 3
    for attempt, seconds in enumerate(sleeps):  # backoff * 2**attempt, jittered to 50-100 %
        assert 0.5 * 2**attempt <= seconds <= 2**attempt
    assert notices[0] == "HTTP 503" and notices[2] == "HTTP 502"
    assert "ConnectError" in notices[1]


def test_retry_after_a_lost_answer_is_a_replay_not_a_second_push(server, tenant):
    transport = FaultTransport(lose_answer)
    with PushClient(
        server.base_url, tenant.api_key, transport=transport, sleep=lambda _s: None
    ) as client:
        summary = client.push_contacts([contact(1), contact(2)])
        log = list(client.iter_pushes())
    # The first delivery was applied and its answer lost; the retry carried the same
    # Idempotency-Key, so the server answered it with the first answer and applied nothing.
    assert (summary.created, summary.unchanged, summary.retries) == (2, 0, 1)
    (batch,) = summary.batches
    assert batch.replayed is True
    assert [(entry["created"], entry["unchanged"]) for entry in log] == [(2, 0)]
    assert batch.request_id == log[0]["requestId"]
    first, retry = transport.requests[:2]
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]


def test_rate_limited_server_retry_after_is_honoured_then_typed_error(strict_server, tenant):
    sleeps: list[float] = []
    client = PushClient(strict_server.base_url, tenant.api_key, retries=1, sleep=sleeps.append)
    with client, pytest.raises(RateLimited) as raised:
        client.push_contacts([contact(n) for n in range(40)], batch_size=1)
    error = raised.value
    assert error.status == 429 and error.retry_after is not None
    # The server's Retry-After (whole seconds until its one-minute window frees a push) was
    # waited, not a backoff (which would be a random fraction).
    assert len(sleeps) >= 1 and all(s == int(s) and 1 <= s <= 60 for s in sleeps)
    assert error.summary is not None
    applied = error.summary.batches
    assert len(applied) >= STRICT_PUSHES_PER_MINUTE
    assert all(batch.status == 200 for batch in applied)


def test_unreachable_server_raises_connection_failed_after_retries():
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"
    client = PushClient(url, "key", retries=2, sleep=sleeps.append)
    with client, pytest.raises(ConnectionFailed) as raised:
        client.push_contacts([contact(1)])
    assert len(sleeps) == 2
    assert url in str(raised.value) and "tried 3 times" in str(raised.value)


def test_wrong_key_raises_unauthorized_with_the_server_message(server, tenant):
    with PushClient(server.base_url, tenant.api_key + "x") as client:
        with pytest.raises(Unauthorized) as raised:
            client.push_contacts([contact(1)])
        with pytest.raises(Unauthorized):
            client.get_contact("C0001")
    assert raised.value.status == 401 and raised.value.code == "unauthorized"
    assert raised.value.request_id


def test_endpoint_not_on_the_platform_raises_typed_error(server, make_tenant):
    essentials = make_tenant(platform="community-essentials")
    lists = [{"ListId": "L1", "Mode": "Replace", "ContactIds": []}]
    client = PushClient(server.base_url, essentials.api_key)
    with client, pytest.raises(NotSupportedForPlatform) as raised:
        client.push_lists(lists)
    assert raised.value.status == 403


def test_reads_page_through_contacts_groups_and_the_push_log(server, tenant):
    records = [
        contact(n, FirstName="A", IsMember="true")
        | {"Groups": [{"GroupId": f"G{n % 3}", "GroupType": "Committee"}]}
        for n in range(25)
    ]
    with PushClient(server.base_url, tenant.api_key) as client:
        client.push_contacts(records, batch_size=25)
        time.sleep(0.02)
        between = datetime.now(UTC)
        time.sleep(0.02)
        client.push_contacts([contact(3, FirstName="B")])
        ids = [c["ContactDetails"]["ContactId"] for c in client.iter_contacts(page_size=10)]
        changed = list(client.iter_contacts(modified_since=between, page_size=10))
        groups = [g["GroupId"] for g in client.iter_groups(page_size=2)]
        group = client.get("groups", "G1")
        pushes = list(client.iter_pushes(page_size=1))
        member = client.get_contact("C0004")
    assert ids == [f"C{n:04d}" for n in range(25)]
    assert [c["ContactDetails"]["ContactId"] for c in changed] == ["C0003"]
    assert groups == ["G0", "G1", "G2"]
    assert group["Kind"] == "community"
    assert {m["ContactId"] for m in group["ActiveMembers"]} == {
        f"C{n:04d}" for n in range(25) if n % 3 == 1
    }
    assert [p["received"] for p in pushes] == [1, 25]  # newest first
    assert member["ContactDetails"]["IsMember"] is True


def test_decimals_and_datetimes_travel_exactly(server, tenant):
    amount = Decimal("12345678901234567.123456789")
    order = {"OrderId": "O1", "ProductId": "P1", "TotalAmount": amount, "Quantity": "3"}
    birthday = datetime(1990, 4, 1, 23, 30, 5, 123456, tzinfo=timezone(timedelta(hours=-5)))
    record = contact(1, Birthday=birthday) | {"Orders": [order]}
    with PushClient(server.base_url, tenant.api_key) as client:
        client.push_contacts([record]).raise_for_errors()
        back = client.get_contact("C0001")
    assert back["Orders"][0]["TotalAmount"] == amount
    assert back["Orders"][0]["Quantity"] == 3
    assert back["ContactDetails"]["Birthday"] == "1990-04-02T04:30:05.123Z"


def test_get_contact_unknown_raises_not_found(server, tenant):
    client = PushClient(server.base_url, tenant.api_key)
    with client, pytest.raises(NotFound) as raised:
        client.get_contact("nobody/with a slash")
    assert raised.value.status == 404


def test_sync_client_runs_in_process_through_the_test_client(client, tenant):
    with PushClient("http://testserver", tenant.api_key, http_client=client) as pushing:
        summary = pushing.push_contacts([contact(n) for n in range(5)], batch_size=2)
        back = pushing.get_contact("C0004")
    assert [b.count for b in summary.batches] == [2, 2, 1]
    assert back["ContactDetails"]["LastName"] == "Last4"


def test_async_client_runs_in_process_through_the_asgi_transport(settings, tenant):
    app = create_app(settings)
    seen: list[int] = []

    async def scenario() -> tuple[Any, list[str], dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with AsyncPushClient("http://app", tenant.api_key, transport=transport) as pushing:
            summary = await pushing.push_contacts(
                [contact(n) for n in range(7)],
                batch_size=3,
                progress=lambda s, _outcome: seen.append(s.done),
            )
            ids = [c["ContactDetails"]["ContactId"] async for c in pushing.iter_contacts()]
            return summary, ids, await pushing.get_contact("C0006")

    try:
        summary, ids, back = asyncio.run(scenario())
    finally:
        app.state.placement.dispose()  # the ASGI transport does not run the app's lifespan
        app.state.engine.dispose()
    assert (summary.created, [b.count for b in summary.batches]) == (7, [3, 3, 1])
    assert seen == [3, 6, 7]
    assert ids == [f"C{n:04d}" for n in range(7)]
    assert back["ContactDetails"]["ContactId"] == "C0006"


def test_async_client_retries_like_the_sync_client(server, tenant):
    sleeps: list[float] = []

    async def pause(seconds: float) -> None:
        sleeps.append(seconds)

    class AsyncFaults(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.network = httpx.AsyncHTTPTransport()
            self.failed = False

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not self.failed:
                self.failed = True
                return httpx.Response(429, headers={"Retry-After": "3"}, json={})
            return await self.network.handle_async_request(request)

        async def aclose(self) -> None:
            await self.network.aclose()

    async def scenario() -> Any:
        async with AsyncPushClient(
            server.base_url, tenant.api_key, transport=AsyncFaults(), sleep=pause
        ) as pushing:
            return await pushing.push_contacts([contact(1)])

    summary = asyncio.run(scenario())
    assert (summary.created, sleeps) == (1, [3.0])


def test_push_lists_meetings_and_products_and_read_them_back(server, tenant):
    members = [f"C{n:05d}" for n in range(10_050)]  # more than one page of ContactIds
    lists = [
        {"ListId": "L1", "ListName": "Board", "Mode": "Replace", "ContactIds": members},
        {"ListId": "L2", "Mode": "add", "ContactIds": ["C00001"]},
    ]
    meeting = {"MeetingId": "M1", "Title": "Annual meeting", "BeginDate": "2025-05-01T09:00:00Z"}
    product = {"ProductId": "P1", "ProductName": "Membership", "Price": Decimal("120.50")}
    with PushClient(server.base_url, tenant.api_key) as client:
        pushed = [
            client.push_lists(lists),
            client.push_meetings([meeting]),
            client.push_products([product]),
        ]
        whole = client.get_list("L1")
        listed = [found["ListId"] for found in client.iter_lists(page_size=1)]
        meeting_back = client.get("meetings", "M1")
        product_back = client.get("products", "P1")
    assert [(s.ok, s.created) for s in pushed] == [(True, 2), (True, 1), (True, 1)]
    assert whole["ListName"] == "Board"
    assert whole["ContactIds"] == members
    assert listed == ["L1", "L2"]
    assert meeting_back["Title"] == "Annual meeting"
    assert meeting_back["BeginDate"] == "2025-05-01T09:00:00.000Z"
    assert product_back["Price"] == Decimal("120.50")


def test_client_knows_every_push_endpoint_of_the_server():
    from pushapi.client import ENDPOINTS
    from pushapi.push.endpoints import PUSH_ENDPOINTS

    assert tuple(endpoint.name for endpoint in PUSH_ENDPOINTS) == ENDPOINTS


# -- SPEC 3.2 options: dry_run, on_error, idempotency_key --------------------------------------


def test_dry_run_counts_what_a_push_would_do_and_changes_nothing(server, tenant):
    transport = FaultTransport()
    with PushClient(server.base_url, tenant.api_key, transport=transport) as client:
        summary = client.push_contacts([contact(1), contact(2)], dry_run=True)
        assert (summary.created, summary.batches[0].dry_run) == (2, True)
        with pytest.raises(NotFound):
            client.get_contact("C0001")
    sent = transport.requests[0]
    assert sent.url.params["dryRun"] == "true"
    assert "idempotency-key" not in sent.headers  # a dry run keeps no answer


def test_on_error_skip_applies_valid_records_and_reports_the_others(server, tenant):
    records = [contact(n) for n in range(6)]
    records[1] = {"ContactDetails": {"ContactId": "bad1", "Age": "x", "LastName": "L"}}
    records[4] = {"ContactDetails": {"ContactId": "bad4", "Age": "y", "LastName": "L"}}
    with PushClient(server.base_url, tenant.api_key) as client:
        summary = client.push_contacts(records, batch_size=3, on_error="skip")
        assert (summary.created, summary.skipped, summary.ok) == (4, 2, False)
        assert [(e.index, e.path) for e in summary.errors] == [
            (1, "ContactDetails.Age"),
            (4, "ContactDetails.Age"),
        ]
        assert [b.rejected for b in summary.batches] == [1, 1]
        with pytest.raises(ValidationFailed) as raised:
            summary.raise_for_errors()
        assert "2 records not applied" in raised.value.message
        with pytest.raises(NotFound):
            client.get_contact("bad1")
        with pytest.raises(ValueError, match="on_error"):
            client.push_contacts(records, on_error="ignore")  # type: ignore[typeddict-item]


def test_a_given_idempotency_key_names_each_batch_and_replays_a_whole_push(server, tenant):
    records = [contact(n) for n in range(5)]
    transport = FaultTransport()
    with PushClient(server.base_url, tenant.api_key, transport=transport) as client:
        first = client.push_contacts(records, batch_size=2, idempotency_key="nightly-42")
        again = client.push_contacts(records, batch_size=2, idempotency_key="nightly-42")
        log = list(client.iter_pushes())
        with pytest.raises(ValueError, match="idempotency_key"):
            client.push_contacts(records, idempotency_key="with space")
    keys = [r.headers["idempotency-key"] for r in transport.requests if r.method == "POST"]
    assert keys == [f"nightly-42-{n}" for n in (1, 2, 3)] * 2
    assert (first.created, again.created) == (5, 5)  # the first answers, replayed
    assert all(batch.replayed for batch in again.batches)
    assert not any(batch.replayed for batch in first.batches)
    assert len(log) == 3


def test_a_409_of_a_batch_still_running_is_retried_after_retry_after(server, tenant):
    sleeps: list[float] = []
    transport = FaultTransport(answer(409, **{"Retry-After": "2"}))
    with PushClient(
        server.base_url, tenant.api_key, transport=transport, sleep=sleeps.append
    ) as client:
        summary = client.push_contacts([contact(1)])
    assert (sleeps, summary.created, summary.retries) == ([2.0], 1, 1)
    first, retry = transport.requests
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
