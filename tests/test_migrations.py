"""Alembic migrations (SPEC 7) on both engines: they build an empty database into exactly the
schema the code declares, undo cleanly, and apply once when several servers start together."""

import subprocess
import sys
from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from pushapi.config import Settings
from pushapi.store.engine import build_engine
from pushapi.store.migrate import alembic_config, pending_revisions, upgrade_database
from pushapi.store.tables import metadata

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _engine(url: str) -> Engine:
    return build_engine(Settings(database_url=url))


def _differences(engine: Engine) -> list[object]:
    """What autogenerate would write: the models against the migrated database."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_migrations_build_an_empty_database_into_exactly_the_declared_schema(
    make_empty_database: Callable[[], str],
) -> None:
    engine = _engine(make_empty_database())
    try:
        assert _tables(engine) == set()
        assert pending_revisions(engine)
        upgrade_database(engine)
        assert _revision(engine) == HEAD
        assert _tables(engine) == set(metadata.tables)
        assert _differences(engine) == []
        assert not pending_revisions(engine)
        upgrade_database(engine)  # at the newest revision already: nothing to do
        assert _revision(engine) == HEAD
    finally:
        engine.dispose()


def test_migrations_downgrade_to_nothing_and_upgrade_again(
    make_empty_database: Callable[[], str],
) -> None:
    engine = _engine(make_empty_database())
    config = alembic_config()
    try:
        upgrade_database(engine)
        with engine.connect().execution_options(write=True) as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
            conn.commit()
        assert _tables(engine) == set()
        assert _revision(engine) is None
        upgrade_database(engine)
        assert _revision(engine) == HEAD
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_servers_starting_together_apply_the_migrations_once(
    make_empty_database: Callable[[], str],
) -> None:
    """API nodes behind a load balancer may all start at once on a new database."""
    url = make_empty_database()
    command_line = [sys.executable, "-m", "pushapi", "db", "upgrade", "--database-url", url]
    processes = [
        subprocess.Popen(command_line, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    engine = _engine(url)
    try:
        assert _revision(engine) == HEAD
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_documents_are_compressed_with_lz4_on_postgresql(make_empty_database, engine_name):
    if engine_name != "postgresql":
        pytest.skip("SQLite stores documents uncompressed")
    engine = _engine(make_empty_database())
    try:
        upgrade_database(engine)
        with engine.connect() as conn:
            methods = conn.exec_driver_sql(
                "SELECT attrelid::regclass::text, attcompression FROM pg_attribute"
                " WHERE attname = 'doc' AND attrelid::regclass::text"
                " IN ('contacts', 'meetings', 'products')"
            ).all()
    finally:
        engine.dispose()
    assert sorted(methods) == [("contacts", "l"), ("meetings", "l"), ("products", "l")]


def test_tenant_state_keeps_each_tenants_counters_both_ways(
    make_empty_database: Callable[[], str],
) -> None:
    """Revision 0007 moves contacts_version and change_seq from tenants to tenant_state, and
    its downgrade moves them back."""
    engine = _engine(make_empty_database())
    config = alembic_config()

    def migrate(step: Callable[..., None], revision: str) -> None:
        with engine.connect().execution_options(write=True) as conn:
            config.attributes["connection"] = conn
            step(config, revision)
            conn.commit()

    try:
        migrate(command.upgrade, "0006")
        with engine.begin() as conn:
            for tenant_id, version, seq in ((1, 5, 7), (2, 0, 0)):
                conn.exec_driver_sql(
                    "INSERT INTO tenants (tenant_id, code, platform, region, "
                    "community_group_types, created_at, contacts_version, change_seq) "
                    f"VALUES ({tenant_id}, 't{tenant_id}', 'community', 'us', '[]', "
                    f"CURRENT_TIMESTAMP, {version}, {seq})"
                )
        migrate(command.upgrade, "0007")
        with engine.connect() as conn:
            state = conn.exec_driver_sql("SELECT * FROM tenant_state ORDER BY tenant_id").all()
        assert [tuple(row) for row in state] == [(1, 5, 7), (2, 0, 0)]
        assert "contacts_version" not in {c["name"] for c in inspect(engine).get_columns("tenants")}
        migrate(command.downgrade, "0006")
        with engine.connect() as conn:
            back = conn.exec_driver_sql(
                "SELECT tenant_id, contacts_version, change_seq FROM tenants ORDER BY tenant_id"
            ).all()
        assert [tuple(row) for row in back] == [(1, 5, 7), (2, 0, 0)]
    finally:
        engine.dispose()
