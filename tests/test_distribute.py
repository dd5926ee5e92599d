"""`pushapi db distribute` (store/distribute.py): what each table becomes on Citus, read from the
table declarations, and the refusals that keep an operator from a schema that only looks
distributed (docs/operations.md, "Growing past one database").

What needs no Citus runs everywhere; the tests on a Citus cluster run in Citus mode only
(PUSHAPI_TEST_CITUS_URL, tests/conftest.py) and are skipped otherwise.
"""

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from conftest import CITUS_URL, POSTGRES_ADMIN_URL, _postgres_admin
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from support import citus
from test_cli import COMMAND, Outcome, _exit_status

from pushapi import cli
from pushapi.config import Settings
from pushapi.store import dialect
from pushapi.store.distribute import (
    DistributeError,
    Layout,
    distribute,
    is_reference,
    layout,
    plan_statements,
)
from pushapi.store.engine import build_engine, normalise_url
from pushapi.store.migrate import upgrade_database
from pushapi.store.tables import contacts, metadata, tenant_state
from pushapi.store.tenants import create_tenant, find_tenant

needs_citus = pytest.mark.skipif(
    not CITUS_URL, reason="Citus mode only: set PUSHAPI_TEST_CITUS_URL (tests/conftest.py)"
)


@pytest.fixture
def pushapi(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run `pushapi ARGS...` in-process, as the console script does."""

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        status = 0
        try:
            cli.run(COMMAND, list(args))
        except SystemExit as done:
            status = _exit_status(done)
        captured = capsys.readouterr()
        return Outcome(status, captured.out, captured.err)

    return invoke


# -- the layout, from the declarations -----------------------------------------------------


def test_tenants_and_keys_are_reference_tables_and_the_rest_distributed() -> None:
    plan = layout(metadata)
    reference = {"tenants", "api_keys", "operators", "console_sessions"}  # (the console's own)
    assert set(plan.reference) == reference
    assert set(plan.distributed) == set(metadata.tables) - reference
    assert "contacts" in plan.distributed and "tenant_state" in plan.distributed
    assert "push_days" in plan.distributed


def test_a_table_added_later_is_laid_out_by_its_columns() -> None:
    """A table without tenant_id (e.g. operators) is held by every node; one with it is
    distributed with the data, without a list to edit."""
    later = MetaData()
    Table("operators", later, Column("operator_id", Integer, primary_key=True))
    Table(
        "daily_counts",
        later,
        Column("tenant_id", Integer, primary_key=True),
        Column("day", String(10), primary_key=True),
    )
    assert layout(later) == Layout(("operators",), ("daily_counts",))


def test_the_statements_co_locate_every_distributed_table_with_the_first() -> None:
    plan = Layout(("tenants",), ("contacts", "groups"))
    planned = plan_statements(plan, {}, lambda _name: False)
    assert planned == [
        ["SELECT create_reference_table('tenants')"],
        ["SELECT create_distributed_table('contacts', 'tenant_id')"],
        ["SELECT create_distributed_table('groups', 'tenant_id', colocate_with => 'contacts')"],
    ]


def test_tables_distributed_already_are_left_and_new_ones_join_them() -> None:
    plan = Layout(("tenants", "operators"), ("contacts", "daily_counts"))
    current = {"tenants": "reference", "contacts": "distributed"}
    planned = plan_statements(plan, current, lambda _name: False)
    assert planned == [
        ["SELECT create_reference_table('operators')"],
        [
            "SELECT create_distributed_table('daily_counts', 'tenant_id',"
            " colocate_with => 'contacts')"
        ],
    ]
    everything = {"tenants": "reference", "operators": "reference"}
    everything |= {"contacts": "distributed", "daily_counts": "distributed"}
    assert plan_statements(plan, everything, lambda _name: True) == []


def test_a_table_with_rows_is_refused_by_name_unless_its_rows_are_moved() -> None:
    plan = Layout(("tenants",), ("contacts",))
    with pytest.raises(DistributeError, match=r"^table contacts holds rows: .*--existing-data"):
        plan_statements(plan, {}, lambda name: name == "contacts")
    planned = plan_statements(plan, {}, lambda name: name == "contacts", existing_data=True)
    assert planned[1] == [
        "SELECT create_distributed_table('contacts', 'tenant_id')",
        "SELECT truncate_local_data_after_distributing_table('contacts')",
    ]


def test_a_table_of_another_kind_is_refused() -> None:
    plan = Layout(("tenants",), ("contacts",))
    with pytest.raises(DistributeError, match="table contacts is already a Citus reference table"):
        plan_statements(plan, {"contacts": "reference"}, lambda _name: False)


# -- refusals without Citus ----------------------------------------------------------------


def _one_line_error(outcome: Outcome) -> str:
    assert outcome.status == 1, outcome
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert "Traceback" not in outcome.err
    return lines[0]


def test_refused_on_sqlite(pushapi: Callable[..., Outcome], tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    line = _one_line_error(pushapi("db", "distribute", "--database-url", url))
    assert line == (
        "pushapi: error: distributing needs a PostgreSQL database with the citus extension,"
        " not sqlite"
    )


@pytest.fixture
def plain_postgres_url() -> Iterator[str]:
    """A new database of plain PostgreSQL (PUSHAPI_TEST_POSTGRES_URL), in every mode."""
    try:
        admin = _postgres_admin(POSTGRES_ADMIN_URL)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}")
    name = f"pushapi_plain_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with _postgres_admin(POSTGRES_ADMIN_URL) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_refused_without_the_citus_extension(
    pushapi: Callable[..., Outcome], plain_postgres_url: str
) -> None:
    line = _one_line_error(pushapi("db", "distribute", "--database-url", plain_postgres_url))
    assert line.startswith("pushapi: error: the database has no citus extension: run CREATE")
    # The schema is made (every command migrates) and left local.
    engine = create_engine(normalise_url(plain_postgres_url))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT to_regclass('contacts')").scalar() is not None
    finally:
        engine.dispose()


# -- on a Citus cluster (Citus mode) -------------------------------------------------------


@pytest.fixture
def citus_database() -> Iterator[Callable[..., str]]:
    """Make databases on every node of the Citus cluster, migrated, not distributed."""
    made: list[str] = []

    def make(*, workers: bool = True) -> str:
        assert CITUS_URL is not None
        name = f"pushapi_dist_{secrets.token_hex(6)}"
        made.append(name)
        if workers:
            url = citus.create_database(CITUS_URL, name)
        else:  # the coordinator only, no worker registered
            with psycopg.connect(CITUS_URL, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            url = make_url(CITUS_URL).set(database=name).render_as_string(hide_password=False)
            with psycopg.connect(url, autocommit=True) as db:
                db.execute("CREATE EXTENSION citus")
        engine = build_engine(Settings(database_url=url))
        upgrade_database(engine)
        engine.dispose()
        return url

    yield make
    for name in made:
        citus.drop_database(str(CITUS_URL), name)


def _kinds(url: str) -> dict[str, tuple[str, int]]:
    """Each Citus table of the database: (partition method, co-location group)."""
    with psycopg.connect(make_url(url).set(query={}).render_as_string(False)) as db:
        rows = db.execute(
            "SELECT logicalrelid::regclass::text, partmethod, colocationid FROM pg_dist_partition"
        ).fetchall()
    return {name: (method, colocation) for name, method, colocation in rows}


@needs_citus
def test_the_session_database_is_distributed_by_tenant_and_co_located(
    database_url: str, pushapi: Callable[..., Outcome]
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the session's SQLite database is not distributed")
    kinds = _kinds(database_url)
    plan = layout(metadata)
    assert {kinds[name][0] for name in plan.reference} == {"n"}
    assert {kinds[name][0] for name in plan.distributed} == {"h"}
    assert len({kinds[name][1] for name in plan.distributed}) == 1  # one co-location group
    assert "alembic_version" not in kinds  # left a local table of the coordinator
    again = pushapi("db", "distribute", "--database-url", database_url)
    assert again.status == 0 and again.last_line == "the schema was distributed already", again


@needs_citus
def test_db_distribute_runs_the_statements_and_pushes_then_work(
    citus_database: Callable[..., str], pushapi: Callable[..., Outcome]
) -> None:
    url = citus_database()
    outcome = pushapi("db", "distribute", "--database-url", url)
    assert outcome.status == 0, outcome
    lines = outcome.out.strip().splitlines()
    references = {t.name for t in metadata.tables.values() if is_reference(t)}
    assert set(lines[: len(references)]) == {
        f"SELECT create_reference_table('{name}')" for name in references
    }
    assert {"tenants", "api_keys", "operators", "console_sessions"} <= references
    assert "SELECT create_distributed_table('tenant_state', 'tenant_id'," in "\n".join(lines)
    assert lines[-1] == "the schema is distributed"
    assert set(_kinds(url)) == set(metadata.tables)


@needs_citus
def test_refused_without_workers(
    citus_database: Callable[..., str], pushapi: Callable[..., Outcome]
) -> None:
    url = citus_database(workers=False)
    line = _one_line_error(pushapi("db", "distribute", "--database-url", url))
    assert line.startswith("pushapi: error: no active Citus worker is registered in this database")
    assert _kinds(url) == {}


@needs_citus
def test_rows_are_refused_then_moved_with_existing_data(
    citus_database: Callable[..., str], pushapi: Callable[..., Outcome]
) -> None:
    url = citus_database()
    engine = build_engine(Settings(database_url=url))
    try:
        tenant, _key = create_tenant(engine, "before", "community")
        line = _one_line_error(pushapi("db", "distribute", "--database-url", url))
        assert re.match(r"pushapi: error: table (tenants|api_keys) holds rows: ", line), line
        assert _kinds(url) == {}
        moved = distribute(engine, metadata, existing_data=True)
        assert "SELECT truncate_local_data_after_distributing_table('tenant_state')" in moved
        assert find_tenant(engine, "before").tenant_id == tenant.tenant_id
        with engine.connect() as conn:
            state = conn.exec_driver_sql(
                "SELECT count(*) FROM tenant_state WHERE tenant_id = %s", (tenant.tenant_id,)
            ).scalar()
        assert state == 1
    finally:
        engine.dispose()


@needs_citus
def test_a_statement_citus_cannot_route_to_one_shard_fails_the_suite(
    engine_name: str, engine: Engine
) -> None:
    """What makes every test of Citus mode a test of single-shard statements: the suite's
    connections turn a multi-shard statement into an error."""
    if engine_name == "sqlite":
        pytest.skip("the session's SQLite database is not distributed")
    with engine.connect() as conn, pytest.raises(DBAPIError, match="multi-task query"):
        conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar()


# -- on plain PostgreSQL, with a stand-in for Citus's catalog and functions ------------------

# Citus's node and table catalogs and its functions, as far as `distribute` uses them: each call
# is recorded, so that what was asked of Citus, in which order, can be checked where Citus is
# not installed (CI). The Citus-mode tests above run the real thing.
STAND_IN = """
CREATE TABLE pg_dist_node (
    nodeid serial, nodename text, nodeport int, groupid int, isactive bool, noderole text
);
CREATE TABLE pg_dist_partition (logicalrelid regclass, partmethod text, repmodel text);
CREATE TABLE citus_calls (n serial, call text);
CREATE FUNCTION create_reference_table(t regclass) RETURNS void LANGUAGE sql AS $$
    INSERT INTO pg_dist_partition VALUES (t, 'n', 't');
    INSERT INTO citus_calls (call) VALUES ('reference ' || t::text) $$;
CREATE FUNCTION create_distributed_table(t regclass, col text, colocate_with text = 'default')
RETURNS void LANGUAGE sql AS $$
    INSERT INTO pg_dist_partition VALUES (t, 'h', 's');
    INSERT INTO citus_calls (call) VALUES ('distributed ' || t::text || ' by ' || col
        || ' with ' || colocate_with) $$;
CREATE FUNCTION truncate_local_data_after_distributing_table(t regclass)
RETURNS void LANGUAGE sql AS $$ INSERT INTO citus_calls (call) VALUES ('truncate ' || t::text) $$;
"""


def test_distribute_asks_citus_for_each_table_once_in_order(
    plain_postgres_url: str, monkeypatch: pytest.MonkeyPatch, pushapi: Callable[..., Outcome]
) -> None:
    import pushapi.store.distribute as distribute_module

    monkeypatch.setattr(distribute_module, "is_distributed", lambda _conn: True)
    engine = build_engine(Settings(database_url=plain_postgres_url))
    try:
        upgrade_database(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(STAND_IN)
        with pytest.raises(DistributeError, match=r"^no active Citus worker is registered"):
            distribute(engine, metadata)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO pg_dist_node (nodename, nodeport, groupid, isactive, noderole)"
                " VALUES ('127.0.0.1', 9700, 0, true, 'primary'),"
                " ('127.0.0.1', 9701, 1, true, 'primary')"
            )
        later = MetaData()
        Table("not_migrated", later, Column("item_id", Integer, primary_key=True))
        with pytest.raises(DistributeError, match=r"^table not_migrated is missing: run pushapi"):
            distribute(engine, later)
        create_tenant(engine, "before", "community")
        with pytest.raises(DistributeError, match=r"^table (api_keys|tenants) holds rows"):
            distribute(engine, metadata)
        url = plain_postgres_url
        outcome = pushapi("db", "distribute", "--existing-data", "--database-url", url)
        assert outcome.status == 0, outcome
        said = outcome.out.strip().splitlines()
        assert said[-1] == "the schema is distributed"
        assert len(said) == 2 * len(metadata.tables) + 1
        with engine.connect() as conn:
            calls = list(conn.exec_driver_sql("SELECT call FROM citus_calls ORDER BY n").scalars())
        plan = layout(metadata)
        anchor = plan.distributed[0]
        expected = []
        for name in plan.reference:
            expected += [f"reference {name}", f"truncate {name}"]
        for name in plan.distributed:
            with_ = "default" if name == anchor else anchor
            expected += [f"distributed {name} by tenant_id with {with_}", f"truncate {name}"]
        assert calls == expected
        assert said[:2] == [
            f"SELECT create_reference_table('{plan.reference[0]}')",
            f"SELECT truncate_local_data_after_distributing_table('{plan.reference[0]}')",
        ]
        assert distribute(engine, metadata) == []  # everything is distributed already
        again = pushapi("db", "distribute", "--database-url", url)
        assert again.status == 0 and again.out == "the schema was distributed already\n", again
    finally:
        engine.dispose()


def test_across_tenants_lowers_the_multi_shard_guard_for_its_transaction_only(
    plain_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pushapi.store.dialect as dialect

    engine = create_engine(
        normalise_url(plain_postgres_url),
        connect_args={"options": "-c citus.multi_task_query_log_level=error"},
    )
    level = "SELECT current_setting('citus.multi_task_query_log_level')"
    try:
        with engine.connect() as conn:
            dialect.across_tenants(conn)  # not a Citus database: nothing to lower
            assert conn.exec_driver_sql(level).scalar() == "error"
            conn.rollback()
            monkeypatch.setattr(dialect, "is_distributed", lambda _conn: True)
            dialect.across_tenants(conn)
            assert conn.exec_driver_sql(level).scalar() == "off"
            conn.rollback()
            assert conn.exec_driver_sql(level).scalar() == "error"
    finally:
        engine.dispose()


def test_a_statement_run_again_and_again_stays_single_shard(
    engine_name: str, engine: Engine, make_tenant: Callable[..., Any]
) -> None:
    """psycopg prepares a statement run five times; PostgreSQL then may plan it once for any
    values, and on Citus that plan of `... WHERE tenant_id = $2::INTEGER` (an int2 parameter,
    cast) goes to every shard. On a coordinator pushapi's connections plan each execution with
    its values (store/engine.py); elsewhere they are left as they are."""
    if engine_name == "sqlite":
        pytest.skip("PostgreSQL's plan cache")
    tenant = make_tenant()
    with engine.connect() as conn:
        for _ in range(12):
            conn.execute(
                update(tenant_state)
                .where(tenant_state.c.tenant_id == tenant.tenant_id)
                .values(contacts_version=tenant_state.c.contacts_version + 1)
            )
        version = conn.execute(
            select(tenant_state.c.contacts_version).where(
                tenant_state.c.tenant_id == tenant.tenant_id
            )
        ).scalar_one()
        assert version == 12
        mode = conn.exec_driver_sql("SHOW plan_cache_mode").scalar()
        assert mode == ("force_custom_plan" if CITUS_URL else "auto")
        conn.rollback()


def test_a_lookup_run_again_and_again_is_planned_with_its_values(plain_postgres_url: str) -> None:
    """A generic plan made while the contacts table was empty looked each key up through the
    wrong index once the table had grown, reading the whole tenant per key: the key lookups of
    a push (dialect.rows_by_key) are planned with their values at every execution, however
    often one connection runs them (on a new database PostgreSQL would switch to a generic
    plan from the sixth)."""
    engine = build_engine(Settings(database_url=plain_postgres_url))
    try:
        upgrade_database(engine)
        tenant, _key = create_tenant(engine, "plans", "community")
        with engine.connect() as conn:
            for attempt in range(12):
                keys = [f"c{attempt}-{n}" for n in range(10)]  # a push of ten, as often
                found = dialect.rows_by_key(
                    conn, contacts, ("contact_id",), tenant.tenant_id, "contact_id", keys
                )
                assert found == []
            generic = conn.exec_driver_sql(
                "SELECT generic_plans FROM pg_prepared_statements"
                " WHERE position('FROM contacts' in statement) > 0"
            ).all()
            conn.rollback()
    finally:
        engine.dispose()
    assert generic == [], "not prepared, so never planned for any values"
