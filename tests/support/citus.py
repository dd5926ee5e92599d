"""Databases on a Citus cluster, for the test suite's Citus mode (PUSHAPI_TEST_CITUS_URL) and the
benchmark's --citus: each is created on the coordinator and on every worker with the citus
extension, the workers registered in it, and dropped on every node afterwards
(docs/operations.md, "Growing past one database")."""

from typing import Any

import psycopg
from sqlalchemy import make_url

from pushapi.config import Settings
from pushapi.store.distribute import distribute
from pushapi.store.engine import build_engine
from pushapi.store.migrate import upgrade_database
from pushapi.store.tables import metadata

# Any statement of the suite's connections that Citus cannot route to one shard is an error,
# except where the code says it reaches every tenant (store/dialect.py, across_tenants).
SINGLE_SHARD_OPTIONS = "-c citus.multi_task_query_log_level=error"


def _connect(
    url: str, host: str | None = None, port: int | None = None, database: str | None = None
) -> Any:
    parsed = make_url(url)
    return psycopg.connect(
        host=host or parsed.host,
        port=port or parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname=database or parsed.database or "postgres",
        autocommit=True,
        connect_timeout=5,
    )


def nodes(admin_url: str) -> tuple[tuple[str, int], list[tuple[str, int]]]:
    """The coordinator (host, port) and the active workers registered at `admin_url`."""
    with _connect(admin_url) as admin:
        rows = admin.execute(
            "SELECT nodename, nodeport, groupid FROM pg_dist_node"
            " WHERE isactive AND noderole = 'primary' ORDER BY nodeid"
        ).fetchall()
    parsed = make_url(admin_url)
    coordinator = next(
        ((str(h), int(p)) for h, p, group in rows if group == 0),
        (parsed.host or "127.0.0.1", parsed.port or 5432),
    )
    workers = [(str(h), int(p)) for h, p, group in rows if group != 0]
    if not workers:
        raise RuntimeError(
            f"no active Citus worker is registered at {admin_url}: run citus_add_node there"
        )
    return coordinator, workers


def create_database(admin_url: str, name: str, *, single_shard: bool = True) -> str:
    """Database `name` on every node with the citus extension, the workers registered in the
    coordinator's; its URL (with SINGLE_SHARD_OPTIONS unless `single_shard` is False)."""
    coordinator, workers = nodes(admin_url)
    for host, port in [coordinator, *workers]:
        with _connect(admin_url, host, port) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        with _connect(admin_url, host, port, database=name) as db:
            db.execute("CREATE EXTENSION citus")
    url = make_url(admin_url).set(database=name)
    with _connect(admin_url, database=name) as db:
        db.execute("SELECT citus_set_coordinator_host(%s, %s)", coordinator)
        for host, port in workers:
            db.execute("SELECT citus_add_node(%s, %s)", (host, port))
    if single_shard:
        url = url.update_query_dict({"options": SINGLE_SHARD_OPTIONS})
    return url.render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` on the coordinator, then on every worker."""
    coordinator, workers = nodes(admin_url)
    for host, port in [coordinator, *workers]:
        with _connect(admin_url, host, port) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_and_distribute(url: str) -> None:
    """Bring the database at `url` to the newest schema, then distribute it as
    `pushapi db distribute` does."""
    engine = build_engine(Settings(database_url=url))
    try:
        upgrade_database(engine)
        distribute(engine, metadata)
    finally:
        engine.dispose()
