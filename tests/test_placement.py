"""Pushes sent to the node that holds their tenant on Citus (store/placement.py), and the tenant's
lock that holds whichever node a push entered at (store/engine.write_transaction).

What needs no Citus runs everywhere, with the placement lookup replaced where a cluster would
answer it; the tests on a Citus cluster run in Citus mode only (PUSHAPI_TEST_CITUS_URL)."""

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
from conftest import CITUS_URL
from sqlalchemy import Engine, event, make_url

import pushapi.store.placement as placement_module
from pushapi.config import Settings
from pushapi.store import dialect
from pushapi.store.engine import write_transaction
from pushapi.store.placement import TenantPlacement

needs_citus = pytest.mark.skipif(
    not CITUS_URL, reason="Citus mode only: set PUSHAPI_TEST_CITUS_URL (tests/conftest.py)"
)


@pytest.fixture
def placements(settings: Settings, engine: Engine) -> Iterator[list[TenantPlacement]]:
    made: list[TenantPlacement] = []
    yield made
    for placement in made:
        placement.dispose()


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements `engine` runs during the test."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_database_without_citus_is_used_for_every_tenant_and_asked_once(
    settings: Settings, engine: Engine, placements: list[TenantPlacement], statements: list[str]
) -> None:
    if CITUS_URL and engine.dialect.name == "postgresql":
        pytest.skip("the session's PostgreSQL database is distributed in Citus mode")
    placement = TenantPlacement(engine, settings)
    placements.append(placement)
    assert placement.engine_for(1) is engine
    asked = len(statements)
    assert placement.engine_for(2) is engine
    assert placement.cached(3) is engine
    assert len(statements) == asked  # known plain once: no lookup again


def test_off_never_looks_up(settings: Settings, engine: Engine, statements: list[str]) -> None:
    placement = TenantPlacement(engine, settings.model_copy(update={"citus_route_pushes": "off"}))
    assert placement.cached(1) is engine
    assert placement.engine_for(1) is engine
    assert statements == []


@pytest.fixture
def pretend_citus(engine_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain PostgreSQL database taken for a Citus coordinator by the placement lookup."""
    if engine_name != "postgresql" or CITUS_URL:
        pytest.skip("a plain PostgreSQL database stands in for the cluster")
    monkeypatch.setattr(placement_module, "is_distributed", lambda _conn: True)


def test_a_tenant_held_by_a_worker_is_sent_to_it_with_the_same_user_database_and_options(
    settings: Settings, engine: Engine, placements: list[TenantPlacement], pretend_citus: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = make_url(settings.database_url)
    # The same server under another name stands in for the worker (same port, so it answers).
    row = f"SELECT 'localhost', {url.port or 5432}, false, true WHERE %s IS NOT NULL"
    monkeypatch.setattr(placement_module, "_PLACEMENT", row)
    # A host in the query (libpq allows it) would win over the node's: it is replaced.
    query = {"application_name": "pushapi-test", "host": "/nowhere", "port": "1"}
    with_options = url.update_query_dict(query)
    configured = settings.model_copy(
        update={"database_url": with_options.render_as_string(hide_password=False)}
    )
    placement = TenantPlacement(engine, configured)
    placements.append(placement)
    node = placement.engine_for(7)
    assert node is not engine
    assert (node.url.host, node.url.port) == ("localhost", url.port or 5432)
    assert (node.url.username, node.url.database) == (url.username, url.database)
    assert node.url.query["application_name"] == "pushapi-test"
    assert "host" not in node.url.query and "port" not in node.url.query
    assert placement.cached(7) is node
    assert placement.engine_for(8) is node  # one engine, one pool, per node
    with write_transaction(node, 7) as conn:
        assert dialect.run_driver(conn, "SELECT current_database()", ())[0][0] == url.database


def test_the_coordinator_or_a_node_without_metadata_keeps_the_tenant(
    settings: Settings, engine: Engine, placements: list[TenantPlacement], pretend_citus: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    answers = {
        1: "SELECT 'coordinator', 5432, true, true WHERE %s IS NOT NULL",
        2: "SELECT 'worker', 5432, false, false WHERE %s IS NOT NULL",
        3: "SELECT 'worker', 5432, false, true WHERE %s IS NULL",  # no placement found
    }
    placement = TenantPlacement(engine, settings)
    placements.append(placement)
    for tenant_id, answer in answers.items():
        monkeypatch.setattr(placement_module, "_PLACEMENT", answer)
        assert placement.engine_for(tenant_id) is engine, answer


def test_a_placement_is_asked_again_after_its_time(
    settings: Settings, engine: Engine, placements: list[TenantPlacement], pretend_citus: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    port = make_url(settings.database_url).port or 5432
    monkeypatch.setattr(
        placement_module, "_PLACEMENT", f"SELECT 'localhost', {port}, false, true WHERE %s > 0"
    )
    placement = TenantPlacement(engine, settings)
    placements.append(placement)
    assert placement.engine_for(5) is not engine
    clock = [time.monotonic()]
    monkeypatch.setattr(placement_module.time, "monotonic", lambda: clock[0])
    clock[0] += placement_module.PLACEMENT_SECONDS + 1
    assert placement.cached(5) is None
    moved = "SELECT 'coordinator', 5432, true, true WHERE %s > 0"
    monkeypatch.setattr(placement_module, "_PLACEMENT", moved)  # moved by a rebalance
    assert placement.engine_for(5) is engine


def test_a_failed_lookup_sends_the_push_through_the_coordinator_and_says_so(
    settings: Settings, engine: Engine, placements: list[TenantPlacement], pretend_citus: None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # A plain database has no Citus catalog: the real lookup fails there.
    placement = TenantPlacement(engine, settings)
    placements.append(placement)
    with caplog.at_level(logging.WARNING, logger=placement_module.__name__):
        assert placement.engine_for(4) is engine
    assert "pushes go through the coordinator" in caplog.text
    with engine.connect() as conn:  # the failed lookup left the pool's connection usable
        assert dialect.run_driver(conn, "SELECT 1", ()) == [(1,)]


# -- on a Citus cluster ----------------------------------------------------------------------


def _holder(database_url: str, tenant_id: int) -> tuple[str, int]:
    """The node (host, port) that holds the tenant's shard group, asked of the coordinator."""
    with psycopg.connect(make_url(database_url).set(query={}).render_as_string(False)) as db:
        row = db.execute(
            "SELECT n.nodename, n.nodeport FROM pg_dist_placement p"
            " JOIN pg_dist_node n ON n.groupid = p.groupid WHERE p.shardid ="
            " get_shard_id_for_distribution_column('tenant_state', %s)",
            (tenant_id,),
        ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


@needs_citus
def test_on_citus_a_push_runs_on_the_node_that_holds_its_tenant(
    settings: Settings, engine: Engine, make_tenant: Any, client: Any, engine_name: str
) -> None:
    if engine_name != "postgresql":
        pytest.skip("SQLite is not distributed")
    tenant = make_tenant()
    placement = TenantPlacement(engine, settings)
    try:
        node = placement.engine_for(tenant.tenant_id)
        assert (node.url.host, node.url.port) == _holder(settings.database_url, tenant.tenant_id)
        assert node is not engine  # the workers hold every tenant's shards in the suite
    finally:
        placement.dispose()
    contact = {"ContactDetails": {"ContactId": "c1", "LastName": "Doe"}}
    answer = client.post("/v2/contactinfo", content=orjson.dumps([contact]), headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    assert client.get("/v2/contacts/c1", headers=tenant.headers).status_code == 200


@needs_citus
def test_on_citus_a_tenants_writers_take_turns_whichever_node_they_entered(
    settings: Settings, engine: Engine, make_tenant: Any, engine_name: str
) -> None:
    """One writer holds the tenant through the coordinator; another, entered at the worker that
    holds the tenant, waits for it; a writer of another tenant does not."""
    if engine_name != "postgresql":
        pytest.skip("SQLite is not distributed")
    tenant, other = make_tenant(), make_tenant()
    placement = TenantPlacement(engine, settings)
    release, held = threading.Event(), threading.Event()
    entered: dict[int, float] = {}

    def hold() -> None:
        with write_transaction(engine, tenant.tenant_id):
            held.set()
            release.wait(10)

    def enter(tenant_id: int) -> None:
        with write_transaction(placement.engine_for(tenant_id), tenant_id):
            entered[tenant_id] = time.monotonic()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        waiter = threading.Thread(target=enter, args=(tenant.tenant_id,))
        free = threading.Thread(target=enter, args=(other.tenant_id,))
        waiter.start()
        free.start()
        free.join(10)
        assert other.tenant_id in entered  # another tenant does not wait
        time.sleep(0.5)
        assert tenant.tenant_id not in entered  # the same tenant does, at the other node
        released_at = time.monotonic()
        release.set()
        waiter.join(10)
        assert entered[tenant.tenant_id] >= released_at
    finally:
        release.set()
        holder.join(10)
        placement.dispose()
