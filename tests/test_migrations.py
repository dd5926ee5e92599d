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


def _migrate(engine: Engine, step: Callable[..., None], revision: str) -> None:
    """Run an Alembic command (upgrade, downgrade) to `revision` on the engine's database."""
    config = alembic_config()
    with engine.connect().execution_options(write=True) as conn:
        config.attributes["connection"] = conn
        step(config, revision)
        conn.commit()


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

    def migrate(step: Callable[..., None], revision: str) -> None:
        _migrate(engine, step, revision)

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


def test_console_revision_counts_what_is_there_and_undoes_cleanly(
    make_empty_database: Callable[[], str],
) -> None:
    """Revision 0008 starts tenant_state.contact_count from the live contacts and push_days from
    the push log (a dry run's records count in no outcome; a refused push's are rejected)."""
    engine = _engine(make_empty_database())

    def migrate(step: Callable[..., None], revision: str) -> None:
        _migrate(engine, step, revision)

    def log_row(request_id: str, status: int, counts: str, dry_run: bool) -> str:
        return (
            "INSERT INTO push_log (tenant_id, request_id, endpoint, received_at, key_id, status, "
            "received, created, updated, deleted, unchanged, warning_count, error_count, detail, "
            f"duration_ms, rejected, dry_run) VALUES (1, '{request_id}', 'contactinfo', "
            f"'2026-12-01 23:59:59', NULL, {status}, {counts}, 0, 0, '{{}}', 1.0, 1, "
            f"{'TRUE' if dry_run else 'FALSE'})"
        )

    try:
        migrate(command.upgrade, "0007")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO tenants (tenant_id, code, platform, region, community_group_types, "
                "created_at) VALUES (1, 't1', 'community', 'us', '[]', CURRENT_TIMESTAMP)"
            )
            conn.exec_driver_sql("INSERT INTO tenant_state (tenant_id) VALUES (1)")
            for contact_id, deleted in (("C1", False), ("C2", False), ("C3", True)):
                conn.exec_driver_sql(
                    "INSERT INTO contacts (tenant_id, contact_id, content_hash, doc, is_deleted, "
                    f"created_at, updated_at) VALUES (1, '{contact_id}', 'h', '{{}}', "
                    f"{'TRUE' if deleted else 'FALSE'}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            # received, created, updated, deleted, unchanged
            conn.exec_driver_sql(log_row("a", 200, "5, 2, 1, 1, 0", False))
            conn.exec_driver_sql(log_row("b", 200, "4, 4, 0, 0, 0", True))
            conn.exec_driver_sql(log_row("c", 400, "3, 0, 0, 0, 0", False))
        migrate(command.upgrade, "0008")
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT contact_count FROM tenant_state").scalar_one()
            days = conn.exec_driver_sql(
                "SELECT tenant_id, day, pushes, refused_pushes, created, updated, deleted, "
                "unchanged, rejected FROM push_days"
            ).all()
        assert count == 2
        assert [tuple(row)[2:] for row in days] == [(3, 1, 2, 1, 1, 0, 1 + 3)]
        assert str(days[0][1]) == "2026-12-01"
        migrate(command.downgrade, "0007")
        assert {"operators", "console_sessions", "push_days"}.isdisjoint(_tables(engine))
        columns = {c["name"] for c in inspect(engine).get_columns("tenant_state")}
        assert "contact_count" not in columns
    finally:
        engine.dispose()
