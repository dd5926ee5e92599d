"""Webhooks (SPEC 8) against a real receiver: an HTTP server in the test process on 127.0.0.1
that verifies every signature with `standardwebhooks`, as a consumer would. Real `pushapi serve`
processes deliver; subscriptions are managed with the `pushapi webhooks` commands."""

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import typer
from support.receiver import Receiver
from support.server import ServerProcess

from pushapi.cli import app as cli_app
from pushapi.cli import run

CONTACTS = "/v2/contactinfo"


@pytest.fixture
def pushapi(database_url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    """`pushapi ARGS...` in this process on the test database; JSON output parsed."""

    def invoke(*args: str) -> Any:
        try:
            run(typer.main.get_command(cli_app), [*args, "--database-url", database_url])
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        if "--json" in args:
            assert code == 0, captured.err
            return json.loads(captured.out)
        return code, captured.out, captured.err

    return invoke


def subscribe(pushapi: Callable[..., Any], tenant: Any, receiver: Receiver, *options: str) -> str:
    created = pushapi("webhooks", "create", tenant.code, receiver.url, *options, "--json")
    assert set(created) == {"id", "url", "types", "secret"}
    receiver.secret = created["secret"]
    return str(created["id"])


def state(pushapi: Callable[..., Any], tenant: Any, webhook_id: str) -> dict[str, Any]:
    (found,) = [w for w in pushapi("webhooks", "list", tenant.code, "--json")
                if w["id"] == webhook_id]  # fmt: skip
    return dict(found)


def push(server: ServerProcess, tenant: Any, records: list[Any], path: str = CONTACTS) -> None:
    response = httpx.post(server.base_url + path, json=records, headers=tenant.headers, timeout=60)
    assert response.status_code == 200, response.text


def contact(n: int, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": f"C{n}", "LastName": f"L{n}", **details}}


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


def test_events_arrive_in_order_in_signed_batches_of_at_most_100(server, tenant, receiver, pushapi):
    push(server, tenant, [contact(0)])  # before the subscription: not delivered
    subscribe(pushapi, tenant, receiver)
    push(server, tenant, [contact(n) for n in range(1, 251)])
    push(server, tenant, [contact(1, FirstName="Changed")])
    receiver.wait_for(lambda: len(receiver.events()) == 251)
    events = receiver.events()
    assert [e["seq"] for e in events] == list(range(2, 253))
    assert events[-1]["type"] == "contact.updated" and events[-1]["id"] == "C1"
    assert all(0 < len(d.events) <= 100 for d in receiver.deliveries)
    seqs = [e["seq"] for d in receiver.deliveries for e in d.events]
    assert seqs == sorted(seqs)  # in seq order, batch after batch
    assert {d.tenant for d in receiver.deliveries} == {tenant.code}
    assert receiver.bad_signatures == 0
    assert len({d.webhook_id for d in receiver.deliveries}) == len(receiver.deliveries)
    metrics = httpx.get(server.base_url + "/metrics").text
    delivered = [
        line
        for line in metrics.splitlines()
        if line.startswith('pushapi_webhook_deliveries_total{outcome="delivered"}')
    ]
    assert delivered and float(delivered[0].split()[-1]) == len(receiver.deliveries)
    assert "pushapi_webhook_delivery_seconds_count" in metrics
    assert "pushapi_webhook_lag_events{" in metrics


def test_types_filter_and_from_seq(server, tenant, receiver, pushapi):
    push(server, tenant, [contact(1), contact(2)])
    subscribe(pushapi, tenant, receiver, "--types", "contact.deleted,contact.created",
              "--from-seq", "0")  # fmt: skip
    push(
        server,
        tenant,
        [contact(1, FirstName="x"), {"ContactDetails": {"ContactId": "C2", "IsDeleted": True}}],
    )
    receiver.wait_for(lambda: len(receiver.events()) == 3)
    assert [(e["type"], e["id"]) for e in receiver.events()] == [
        ("contact.created", "C1"), ("contact.created", "C2"), ("contact.deleted", "C2"),
    ]  # fmt: skip


def test_a_receiver_outage_is_retried_with_the_same_webhook_id(server, tenant, receiver, pushapi):
    webhook_id = subscribe(pushapi, tenant, receiver)
    receiver.status = 500
    push(server, tenant, [contact(1)])
    receiver.wait_for(lambda: len(receiver.refused) >= 2)
    failing = state(pushapi, tenant, webhook_id)
    assert failing["state"] == "failing" and failing["last_error"] == "HTTP 500"
    assert failing["lag"] == 1
    receiver.status = 200
    push(server, tenant, [contact(2)])
    receiver.wait_for(lambda: len(receiver.events()) == 2, seconds=60)
    assert set(receiver.refused) == {receiver.deliveries[0].webhook_id}  # the same batch
    assert [e["id"] for e in receiver.deliveries[0].events] == ["C1"]
    receiver.wait_for(lambda: state(pushapi, tenant, webhook_id)["state"] == "active")
    assert state(pushapi, tenant, webhook_id)["lag"] == 0


def test_a_redirect_is_a_failure(server, tenant, receiver, pushapi):
    webhook_id = subscribe(pushapi, tenant, receiver)
    receiver.status = 307
    push(server, tenant, [contact(1)])
    receiver.wait_for(lambda: state(pushapi, tenant, webhook_id)["last_error"] == "HTTP 307")


def test_delivery_goes_on_after_a_restart_and_a_sigkill(start_server, tenant, receiver, pushapi):
    server = start_server()
    subscribe(pushapi, tenant, receiver)
    push(server, tenant, [contact(1)])
    receiver.wait_for(lambda: len(receiver.events()) == 1)
    server.stop()  # SIGTERM: stops cleanly
    server = start_server()
    push(server, tenant, [contact(2)])
    receiver.wait_for(lambda: len(receiver.events()) == 2)
    receiver.delay = 3.0  # the next delivery is under way when the server is killed
    push(server, tenant, [contact(3)])
    receiver.wait_for(lambda: receiver.in_flight == 1)
    server.stop(signal.SIGKILL)
    receiver.delay = 0.0
    server = start_server()
    receiver.wait_for(lambda: len(receiver.events()) == 3, seconds=60)
    assert [e["id"] for e in receiver.events()] == ["C1", "C2", "C3"]


def test_two_workers_deliver_each_subscription_once_at_a_time(
    start_server, tenant, receiver, pushapi
):
    server = start_server("--workers", "2")
    subscribe(pushapi, tenant, receiver)
    receiver.delay = 0.2
    for round_ in range(6):
        push(server, tenant, [contact(n, FirstName=f"R{round_}") for n in range(30)])
    receiver.wait_for(lambda: len(receiver.events()) == 180, seconds=60)
    assert receiver.most_in_flight == 1
    seqs = [e["seq"] for d in receiver.deliveries for e in d.events]
    assert seqs == list(range(1, 181))  # each once: no batch was sent twice


def test_failing_for_the_configured_hours_disables_then_enable_delivers(
    start_server, tenant, receiver, pushapi
):
    server = start_server(env={"PUSHAPI_WEBHOOK_DISABLE_HOURS": "0.0008"})  # about 3 s
    webhook_id = subscribe(pushapi, tenant, receiver)
    receiver.status = 503
    push(server, tenant, [contact(1)])
    receiver.wait_for(lambda: state(pushapi, tenant, webhook_id)["state"] == "disabled", 60)
    refused = len(receiver.refused)
    time.sleep(2.5)
    assert len(receiver.refused) == refused  # disabled: no more tries
    receiver.status = 200
    code, out, _ = pushapi("webhooks", "enable", tenant.code, webhook_id)
    assert code == 0 and webhook_id in out
    receiver.wait_for(lambda: len(receiver.events()) == 1)
    assert state(pushapi, tenant, webhook_id)["state"] == "active"


def test_delivery_off_on_a_node(start_server, tenant, receiver, pushapi):
    server = start_server(env={"PUSHAPI_WEBHOOKS_DELIVERY": "off"})
    subscribe(pushapi, tenant, receiver)
    push(server, tenant, [contact(1)])
    time.sleep(2.5)
    assert receiver.deliveries == []


def test_webhooks_commands(tenant, pushapi, receiver):
    code, out, err = pushapi("webhooks", "create", tenant.code, "ftp://example.org/x")
    assert code == 1 and "http" in err and err.count("\n") == 1
    code, _, err = pushapi("webhooks", "create", tenant.code, receiver.url, "--types", "x.y")
    assert code == 1 and "unknown event type 'x.y'" in err
    code, _, err = pushapi("webhooks", "create", "no-such-tenant", receiver.url)
    assert code == 1 and "unknown tenant" in err
    code, out, _ = pushapi("webhooks", "create", tenant.code, receiver.url)
    assert code == 0 and "whsec_" in out
    (listed,) = pushapi("webhooks", "list", tenant.code, "--json")
    assert set(listed) >= {"id", "url", "types", "state", "delivered_seq", "lag", "last_error"}
    assert "secret" not in listed and listed["state"] == "active"
    code, out, _ = pushapi("webhooks", "list", tenant.code)
    assert listed["id"] in out and "active" in out
    assert pushapi("webhooks", "delete", tenant.code, listed["id"])[0] == 0
    assert pushapi("webhooks", "list", tenant.code, "--json") == []
    code, _, err = pushapi("webhooks", "delete", tenant.code, listed["id"])
    assert code == 1 and "no webhook" in err


def test_webhooks_run_delivers_without_a_server(tenant, receiver, pushapi, client):
    """`pushapi webhooks run` in this process: it delivers, and SIGTERM stops it cleanly."""
    subscribe(pushapi, tenant, receiver)
    response = client.post(CONTACTS, json=[contact(1)], headers=tenant.headers)
    assert response.status_code == 200

    def stop_once_delivered() -> None:
        try:
            receiver.wait_for(lambda: len(receiver.events()) == 1)
        finally:  # delivered or not, the command must end
            os.kill(os.getpid(), signal.SIGTERM)

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    stopper = threading.Thread(target=stop_once_delivered)
    stopper.start()
    try:
        code, _out, err = pushapi("webhooks", "run")
    finally:
        stopper.join()
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert code == 0
    assert "delivering webhooks" in err
    assert [event["id"] for event in receiver.events()] == ["C1"]
