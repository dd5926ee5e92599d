"""The webhook Deliverer in this process (SPEC 8), step by step: each `tick()` is one look for
due subscriptions, so batching, retries, backoff, disabling, leases and pruned events are shown
without waiting for a server's poll. Pushes go through the in-process client; the receiver is a
real HTTP server on 127.0.0.1 that verifies every signature. test_webhooks.py shows the same
through real `pushapi serve` processes."""

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError
from support.receiver import Receiver, receiving

import pushapi.webhooks as delivery
from pushapi.metrics import Metrics
from pushapi.store.retention import prune_changes
from pushapi.store.tables import change_events, webhooks
from pushapi.store.webhooks import (
    DISABLED,
    FAILING,
    WebhookError,
    create_webhook,
    due_webhooks,
    enable_webhook,
    get_webhook,
    take_lease,
)
from pushapi.webhooks import MAX_BACKOFF, Deliverer, backoff

CONTACTS = "/v2/contactinfo"
DAYS = timedelta(hours=72)


@pytest.fixture
def deliverers(engine: Any) -> Iterator[list[Deliverer]]:
    """Deliverers made by a test, each stopped after it."""
    made: list[Deliverer] = []
    yield made
    for deliverer in made:
        deliverer.stop()


@pytest.fixture
def deliverer(engine: Any, deliverers: list[Deliverer]) -> Deliverer:
    made = Deliverer(engine, DAYS, Metrics())
    deliverers.append(made)
    return made


def push(client: Any, tenant: Any, first: int, count: int) -> None:
    records = [
        {"ContactDetails": {"ContactId": f"C{n}", "LastName": f"L{n}"}}
        for n in range(first, first + count)
    ]
    response = client.post(CONTACTS, json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text


def subscribe(engine: Any, tenant: Any, receiver: Receiver, **options: Any) -> str:
    options.setdefault("types", None)
    options.setdefault("from_seq", 0)
    found = create_webhook(engine, tenant.code, receiver.url, now=datetime.now(UTC), **options)
    receiver.secret = found.secret
    return found.webhook_id


def settle(deliverer: Deliverer) -> None:
    """One look for due subscriptions, and every delivery it started, to the end."""
    deliverer.tick()
    deadline = time.monotonic() + 30
    while deliverer._busy:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def due_now(engine: Any, tenant: Any, webhook_id: str) -> None:
    """Skip the wait before the next retry."""
    with engine.begin() as conn:
        conn.execute(
            update(webhooks)
            .where(webhooks.c.tenant_id == tenant.tenant_id, webhooks.c.webhook_id == webhook_id)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_batches_of_100_in_seq_order_signed_and_counted(
    client, engine, tenant, receiver, deliverer
):
    push(client, tenant, 0, 250)
    webhook_id = subscribe(engine, tenant, receiver)
    settle(deliverer)
    assert [len(d.events) for d in receiver.deliveries] == [100, 100, 50]
    assert [d.webhook_id for d in receiver.deliveries] == [
        f"msg_{webhook_id}_100", f"msg_{webhook_id}_200", f"msg_{webhook_id}_250",
    ]  # fmt: skip
    assert [e["seq"] for e in receiver.events()] == list(range(1, 251))
    assert {d.tenant for d in receiver.deliveries} == {tenant.code}
    assert receiver.bad_signatures == 0
    found = get_webhook(engine, tenant.code, webhook_id)
    assert (found.delivered_seq, found.batch_last, found.state) == (250, None, "active")
    text = deliverer.metrics.render().decode() if deliverer.metrics else ""
    assert 'pushapi_webhook_deliveries_total{outcome="delivered"} 3.0' in text
    assert "pushapi_webhook_delivery_seconds_count 3.0" in text
    assert f'pushapi_webhook_lag_events{{webhook="{webhook_id}"}} 0.0' in text  # all sent

    settle(deliverer)  # nothing new: nothing sent
    assert len(receiver.deliveries) == 3


def test_a_failed_batch_is_retried_unchanged_after_a_backoff(
    client, engine, tenant, receiver, deliverer
):
    push(client, tenant, 0, 3)
    webhook_id = subscribe(engine, tenant, receiver)
    receiver.status = 500
    before = datetime.now(UTC)
    settle(deliverer)
    found = get_webhook(engine, tenant.code, webhook_id)
    assert (found.state, found.attempts, found.batch_last) == (FAILING, 1, 3)
    assert found.last_error == "HTTP 500"
    retry_at = found.next_attempt_at.replace(tzinfo=UTC)  # type: ignore[union-attr]
    assert before < retry_at <= datetime.now(UTC) + timedelta(seconds=1.5)
    assert found not in due_webhooks(engine, datetime.now(UTC))
    text = deliverer.metrics.render().decode() if deliverer.metrics else ""
    assert f'pushapi_webhook_lag_events{{webhook="{webhook_id}"}} 3.0' in text

    push(client, tenant, 3, 2)  # a later push: not part of the batch being retried
    receiver.status = 200
    due_now(engine, tenant, webhook_id)
    settle(deliverer)
    first, second = receiver.deliveries
    assert receiver.refused == [first.webhook_id] == [f"msg_{webhook_id}_3"]
    assert [e["seq"] for e in first.events] == [1, 2, 3]
    assert [e["seq"] for e in second.events] == [4, 5]
    found = get_webhook(engine, tenant.code, webhook_id)
    assert (found.state, found.attempts, found.delivered_seq) == ("active", 0, 5)
    assert found.last_error == "HTTP 500"  # kept after the recovery, for the operator
    text = deliverer.metrics.render().decode() if deliverer.metrics else ""
    assert 'pushapi_webhook_deliveries_total{outcome="failed"} 1.0' in text


def test_a_receiver_that_is_down_is_a_failure_with_its_reason(
    client, engine, tenant, receiver, deliverer
):
    with receiving() as gone:
        url = gone.url  # a port that nobody listens on once the block ends
    push(client, tenant, 0, 1)
    found = create_webhook(engine, tenant.code, url, None, 0, datetime.now(UTC))
    settle(deliverer)
    found = get_webhook(engine, tenant.code, found.webhook_id)
    assert found.state == FAILING
    assert found.last_error is not None and found.last_error.startswith("ConnectError")


def test_failing_longer_than_allowed_disables_until_enabled(
    client, engine, tenant, receiver, deliverers
):
    impatient = Deliverer(engine, timedelta(0))
    deliverers.append(impatient)
    push(client, tenant, 0, 2)
    webhook_id = subscribe(engine, tenant, receiver)
    receiver.status = 503
    settle(impatient)
    assert get_webhook(engine, tenant.code, webhook_id).state == DISABLED
    due_now(engine, tenant, webhook_id)
    settle(impatient)  # disabled: not tried again
    assert len(receiver.refused) == 1

    receiver.status = 200
    enable_webhook(engine, tenant.code, webhook_id)
    settle(impatient)
    assert [e["seq"] for e in receiver.events()] == [1, 2]
    assert get_webhook(engine, tenant.code, webhook_id).state == "active"


def test_events_of_other_types_are_passed_over_without_a_delivery(
    client, engine, tenant, receiver, deliverer
):
    webhook_id = subscribe(engine, tenant, receiver, types=["list.updated"])
    push(client, tenant, 0, 5)
    settle(deliverer)
    assert receiver.deliveries == []
    assert get_webhook(engine, tenant.code, webhook_id).delivered_seq == 5


def test_events_pruned_before_delivery_are_skipped_and_said(
    client, engine, tenant, receiver, deliverer
):
    push(client, tenant, 0, 3)
    with engine.begin() as conn:  # the first push's events grow old
        conn.execute(
            update(change_events)
            .where(change_events.c.tenant_id == tenant.tenant_id)
            .values(at=datetime.now(UTC) - timedelta(days=40))
        )
    push(client, tenant, 3, 2)
    assert prune_changes(engine, 30) >= 1
    webhook_id = subscribe(engine, tenant, receiver)  # from seq 0: 1-3 are gone
    settle(deliverer)
    found = get_webhook(engine, tenant.code, webhook_id)
    assert found.delivered_seq == 3
    assert found.last_error == "events up to seq 3 were pruned before they could be delivered"
    settle(deliverer)
    assert [e["seq"] for e in receiver.events()] == [4, 5]
    assert get_webhook(engine, tenant.code, webhook_id).last_error == found.last_error


def test_one_deliverer_holds_a_subscription_at_a_time(client, engine, tenant, receiver, deliverers):
    first, second = Deliverer(engine, DAYS), Deliverer(engine, DAYS)
    deliverers.extend([first, second])
    push(client, tenant, 0, 1)
    webhook_id = subscribe(engine, tenant, receiver)
    receiver.delay = 1.0
    first.tick()
    receiver.wait_for(lambda: receiver.in_flight == 1)
    settle(second)  # the lease is held: the second one sends nothing
    receiver.wait_for(lambda: len(receiver.deliveries) == 1)
    settle(first)
    assert receiver.most_in_flight == 1
    assert len(receiver.deliveries) == 1

    first.stop()  # gives its lease back
    with engine.connect() as conn:
        owner = conn.execute(
            select(webhooks.c.lease_owner).where(
                webhooks.c.tenant_id == tenant.tenant_id, webhooks.c.webhook_id == webhook_id
            )
        ).scalar_one()
    assert owner is None
    push(client, tenant, 1, 1)
    settle(second)
    assert [e["seq"] for e in receiver.events()] == [1, 2]


def test_a_lease_of_a_dead_process_or_past_its_time_is_taken_over(engine, tenant, receiver):
    found = get_webhook(engine, tenant.code, subscribe(engine, tenant, receiver))
    now = datetime.now(UTC)
    later = [now + timedelta(seconds=31 * n) for n in range(4)]  # each past the last lease
    assert take_lease(engine, found, "elsewhere:1:a", later[0])
    assert not take_lease(engine, found, "elsewhere:1:b", later[0])  # another host: trusted
    assert take_lease(engine, found, "elsewhere:1:b", later[1])  # the lease ran out

    ended = subprocess.Popen(["true"])
    ended.wait()
    here = socket.gethostname()
    assert take_lease(engine, found, f"{here}:{ended.pid}:c", later[2])
    assert take_lease(engine, found, f"{here}:1:d", later[2])  # c has ended: its lease is void
    assert not take_lease(engine, found, f"{here}:1:e", later[2])  # process 1 lives


def test_a_deleted_subscription_stops_its_delivery(client, engine, tenant, receiver, deliverer):
    push(client, tenant, 0, 150)
    webhook_id = subscribe(engine, tenant, receiver)
    receiver.delay = 0.5
    deliverer.tick()
    receiver.wait_for(lambda: receiver.in_flight == 1)
    with engine.begin() as conn:
        conn.execute(
            delete(webhooks).where(
                webhooks.c.tenant_id == tenant.tenant_id, webhooks.c.webhook_id == webhook_id
            )
        )
    settle(deliverer)
    assert len(receiver.deliveries) == 1


def test_run_goes_on_after_a_database_failure_and_stops_when_asked(
    client, engine, tenant, receiver, deliverer, monkeypatch
):
    push(client, tenant, 0, 1)
    subscribe(engine, tenant, receiver)
    failures = []
    real = delivery.due_webhooks

    def failing_once(*args: Any) -> Any:
        if not failures:
            failures.append(1)
            raise OperationalError("SELECT", {}, Exception("the database went away"))
        return real(*args)

    monkeypatch.setattr(delivery, "POLL", 0.05)
    monkeypatch.setattr(delivery, "due_webhooks", failing_once)
    runner = threading.Thread(target=deliverer.run)
    runner.start()
    receiver.wait_for(lambda: len(receiver.deliveries) == 1)
    deliverer.request_stop()
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert failures == [1]


def test_backoff_doubles_with_jitter_up_to_an_hour():
    for attempts in range(1, 20):
        base = min(MAX_BACKOFF, 2.0 ** (attempts - 1))
        assert base * 0.5 <= backoff(attempts) <= base
    assert backoff(40) <= MAX_BACKOFF


def test_refused_subscriptions(engine, tenant):
    now = datetime.now(UTC)
    with pytest.raises(WebhookError, match="http://host"):
        create_webhook(engine, tenant.code, "ftp://example.org/", None, None, now)
    with pytest.raises(WebhookError, match=r"unknown event type 'contact\.seen'"):
        create_webhook(engine, tenant.code, "http://example.org/", ["contact.seen"], None, now)
    with pytest.raises(WebhookError, match="--from-seq must be 0 or more"):
        create_webhook(engine, tenant.code, "http://example.org/", None, -1, now)
    with pytest.raises(WebhookError, match="has no webhook"):
        get_webhook(engine, tenant.code, "nothing")
