"""When every database connection of a worker is busy, requests are refused with 503 and
Retry-After (which clients retry), not left hanging and not answered 500."""

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import TypeVar

import pytest
from conftest import EXAMPLES, _postgres_admin
from sqlalchemy import make_url

from pushapi.config import Settings
from pushapi.store.engine import PING_AFTER_IDLE_SECONDS, build_engine
from pushapi.store.migrate import upgrade_database
from pushapi.store.tenants import create_tenant

T = TypeVar("T")

PUSH = "/v2/contactinfo"


def test_push_and_read_answer_503_with_retry_after_while_every_connection_is_busy(
    make_client, tenant
):
    client = make_client(pool_size=1, max_overflow=0, pool_timeout=0.2)
    body = (EXAMPLES / "canonical-contacts.json").read_bytes()
    held = client.app.state.engine.connect()  # the worker's only connection
    try:
        held.exec_driver_sql("SELECT 1")
        push = client.post(PUSH, content=body, headers=tenant.headers)
        read = client.get("/v2/contacts", headers=tenant.headers)
    finally:
        held.close()
    for answer in (push, read):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error"] == "unavailable"
        assert answer.json()["requestId"] == answer.headers["x-request-id"]
    again = client.post(PUSH, content=body, headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert again.json()["created"] == 2  # the refused push changed nothing


def test_push_whose_transaction_gets_no_connection_is_503_and_changes_nothing(
    client, tenant, snapshot, monkeypatch
):
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    import pushapi.push.apply

    def no_connection(engine, tenant_id, wait=True):
        raise PoolTimeout("QueuePool limit reached")

    before = snapshot(tenant)
    monkeypatch.setattr(pushapi.push.apply, "write_transaction", no_connection)
    body = (EXAMPLES / "canonical-contacts.json").read_bytes()
    answer = client.post(PUSH, content=body, headers=tenant.headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert "QueuePool" not in answer.text  # never internals
    assert snapshot(tenant) == before


# -- a busy or lost database: 503, nothing changed, the client retries (SPEC 3) --------------


@contextmanager
def sqlite_write_lock(url: str) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as a long push of another process
    would."""
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def finishes(call: Callable[[], T], seconds: float = 20) -> T:
    """The result of `call`, which must not be waiting on a lock: it runs in a thread and must
    be done well before the lock's holder would let go (the locks here are held indefinitely,
    so a call that waits for one never finishes)."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            return future.result(timeout=seconds)
        except FutureTimeout:
            raise AssertionError("the request waited for the lock") from None


def test_a_push_that_finds_sqlite_locked_past_its_busy_timeout_is_503_and_changes_nothing(
    make_client, tenant, engine_name, database_url, snapshot
):
    if engine_name != "sqlite":
        pytest.skip("SQLite's busy timeout")
    client = make_client(busy_timeout_ms=200)
    body = (EXAMPLES / "canonical-contacts.json").read_bytes()
    before = snapshot(tenant)
    with sqlite_write_lock(database_url):
        answer = client.post(PUSH, content=body, headers=tenant.headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] and answer.json()["error"] == "unavailable"
    assert "locked" not in answer.text  # never internals
    assert snapshot(tenant) == before
    assert client.post(PUSH, content=body, headers=tenant.headers).json()["created"] == 2


def test_reads_and_refused_pushes_do_not_wait_for_sqlite_writers(
    make_client, make_tenant, engine_name, database_url
):
    """A read whose key's last use is due, and a refused push, answer while another
    connection holds the write lock (a push of another tenant, a long one)."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's one write lock")
    client = make_client(busy_timeout_ms=60_000, rate_limit_per_minute=1)
    limited_tenant, other = make_tenant(), make_tenant()  # keys never used: their use is due
    assert client.post(PUSH, json=[], headers=limited_tenant.headers).status_code == 200
    with sqlite_write_lock(database_url):
        read = finishes(lambda: client.get("/v2/contacts", headers=other.headers))
        limited = finishes(lambda: client.post(PUSH, json=[], headers=limited_tenant.headers))
        invalid = finishes(lambda: client.post(PUSH, content=b"[1]", headers=other.headers))
    assert (read.status_code, limited.status_code, invalid.status_code) == (200, 429, 400)
    # Both refusals reach the push log once the lock is free.
    for tenant, status in ((limited_tenant, 429), (other, 400)):
        log = client.get("/v2/pushes", headers=tenant.headers).json()["items"]
        assert log[0]["status"] == status


def test_a_dropped_postgresql_database_answers_503_not_500(
    make_client, make_empty_database, engine_name
):
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL")
    url = make_empty_database()
    engine = build_engine(Settings(database_url=url))
    upgrade_database(engine)
    _tenant, key = create_tenant(engine, "gone", "community")
    engine.dispose()
    client = make_client(database_url=url)
    headers = {"ApiKey": key.api_key, "Content-Type": "application/json"}
    assert client.post(PUSH, json=[], headers=headers).status_code == 200
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
    for answer in (
        client.post(
            PUSH, json=[{"ContactDetails": {"ContactId": "a", "LastName": "A"}}], headers=headers
        ),
        client.get("/v2/contacts", headers=headers),
        client.get("/healthz"),
    ):
        assert answer.status_code == 503, answer.text
        assert "retry-after" in answer.headers or answer.json()["status"] == "unavailable"


def test_a_postgresql_connection_closed_while_idle_is_replaced_not_used(
    make_empty_database, engine_name, monkeypatch
):
    """A pooled connection is pinged once it sat idle past PING_AFTER_IDLE_SECONDS (not when it
    came back a moment ago); one the database closed meanwhile is replaced."""
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL")
    url = make_empty_database()
    engine = build_engine(Settings(database_url=url, pool_size=1, max_overflow=0))
    pings: list[bool] = []
    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: object) -> bool:
        pings.append(True)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    backend = "SELECT pg_backend_pid()"
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql(backend).scalar_one()
        with engine.connect() as conn:  # back in the pool a moment ago: used without a ping
            assert conn.exec_driver_sql(backend).scalar_one() == first
        assert pings == []
        with _postgres_admin() as admin:
            # (::int: Citus adds a pg_terminate_backend(bigint, bigint) that a small pid sent
            # as smallint makes ambiguous)
            admin.execute("SELECT pg_terminate_backend(%s::int)", (first,))
        time.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
        with engine.connect() as conn:  # pinged, found closed, replaced
            assert conn.exec_driver_sql(backend).scalar_one() != first
        assert len(pings) >= 1
    finally:
        engine.dispose()


def test_a_small_push_waiting_for_sqlites_write_lock_leaves_the_server_answering(
    make_client, tenant, engine_name, database_url
):
    """A small push may run on the event loop (routes/push.py), but only when SQLite's write
    lock is free: while another connection holds it, the push waits in a worker thread, other
    requests are answered meanwhile, and the push is applied once the lock is let go."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's one write lock")
    client = make_client(busy_timeout_ms=60_000)
    contact = {"ContactDetails": {"ContactId": "waits-1", "LastName": "Waits"}}
    with ThreadPoolExecutor(1) as pool:
        with sqlite_write_lock(database_url):
            push = pool.submit(client.post, PUSH, json=[contact], headers=tenant.headers)
            time.sleep(0.3)  # the push has begun, and found the lock taken
            assert not push.done()
            read = finishes(lambda: client.get("/v2/contacts", headers=tenant.headers))
            assert (read.status_code, read.json()["items"]) == (200, [])
        answer = push.result(timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == 1
    stored = client.get("/v2/contacts", headers=tenant.headers).json()["items"]
    assert [c["ContactDetails"]["ContactId"] for c in stored] == ["waits-1"]


def test_a_push_whose_key_lookup_finds_the_database_away_is_503(make_client, tenant, monkeypatch):
    """Pushes go straight to their route (app.DirectPushes), not through the framework's
    exception handlers: a database error on the way is still a 503, never a 500."""
    from sqlalchemy.exc import OperationalError

    import pushapi.auth

    def away(*_args: object) -> None:
        raise OperationalError("SELECT ...", {}, Exception("connection refused"))

    monkeypatch.setattr(pushapi.auth, "authenticate", away)
    client = make_client()  # a new app: it has not seen the key yet
    answer = client.post(PUSH, json=[], headers=tenant.headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["requestId"] == answer.headers["x-request-id"]
    assert "refused" not in answer.text
