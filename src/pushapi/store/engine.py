"""Engines for SQLite and PostgreSQL, and the write transaction every push runs in."""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError, OperationalError

from pushapi.config import Settings
from pushapi.store.checkpoints import SAFETY_PAGES
from pushapi.store.dialect import is_distributed, run_driver

# The first key of the two-key advisory locks pushapi takes on PostgreSQL ("push" in ASCII).
TENANT_LOCK_SPACE = 0x70757368


def normalise_url(database_url: str) -> URL:
    """Accept the plain `postgresql://` form of SPEC 2 and use the psycopg 3 driver for it."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def build_engine(settings: Settings) -> Engine:
    """Create the engine for `settings.database_url` with the pragmas each engine needs."""
    url = normalise_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings)
    if "application_name" not in url.query:
        # Names pushapi's sessions in pg_stat_activity, for operators.
        url = url.update_query_dict({"application_name": "pushapi"})
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
    )
    event.listen(engine, "connect", _on_citus)
    _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _on_citus(dbapi_connection: Any, record: Any) -> None:
    """Note whether the database is a Citus coordinator (dialect.is_distributed), and there
    plan every execution of a prepared statement with its values: the generic plan PostgreSQL
    switches to after five executions hides the tenant from Citus, which then sends a statement
    such as `UPDATE tenant_state ... WHERE tenant_id = $2` to every shard (each an
    `UPDATE` of nothing but on the tenant's, all in one two-phase commit) instead of to one."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        distributed = cursor.fetchone() is not None
        if distributed:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()
    record.info["citus"] = distributed


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """A connection the database (or a proxy) closed while it was idle is replaced, not used:
    SQLAlchemy's pre-ping, for connections that sat in the pool longer than `idle` seconds only.
    Pinging at every checkout cost a round trip each time a push or read took a connection
    (three per push) while the pool was busy and its connections fresh (docs/benchmark.md,
    "Measured choices")."""

    @event.listens_for(engine, "checkin")
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and hands out another (a new one if need be).
            raise DisconnectionError("the connection was closed while idle") from error


_IDLE_SINCE = "pushapi_idle_since"


def _sqlite_engine(url: URL, settings: Settings) -> Engine:
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        connect_args={"timeout": settings.busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by us (below), so pysqlite must not begin them implicitly.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor, settings.busy_timeout_ms / 1000)
        # SPEC 7: a 200 survives a power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}")
        # SQLite's default cache is 2 MiB: once a tenant's indexes outgrow it, every push reads
        # their pages back from the operating system; a push uses two connections, whose caches
        # count in its memory (docs/benchmark.md, "Measured choices").
        cursor.execute(f"PRAGMA cache_size=-{int(settings.sqlite_cache_mib) * 1024}")
        # The log is copied into the database file by a server's Checkpointer, off the path of
        # the push that commits; a connection does it by itself only past this many pages.
        cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        # A writer takes the write lock at BEGIN, so it waits on the busy timeout instead of
        # failing when a read lock cannot be upgraded.
        write = conn.get_execution_options().get("write", False)
        if write != NO_WAIT:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
            return
        # The write lock now or never: SQLite's busy handler is off for this BEGIN only. Once
        # held, nothing else waits in WAL mode (readers never block a writer, and the commit's
        # checkpoint is a passive one).
        driver = conn.connection.driver_connection
        driver.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            driver.execute(f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}")  # type: ignore[union-attr]

    return engine


def _use_wal(cursor: Any, timeout: float) -> None:
    """Put the database in WAL mode, once. Switching takes an exclusive lock, and SQLite refuses
    it at once ("database is locked", without waiting on the busy timeout) while another process
    holds a lock: two commands starting together on a new database file meet this, so the switch
    is tried again until the busy timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower()
            if mode in ("wal", "memory"):  # an in-memory database has no WAL
                return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError("database is locked: cannot switch it to WAL mode")
        time.sleep(0.02)


class WriteLockBusy(Exception):
    """write_transaction(wait=False) found SQLite's write lock taken: nothing was done."""


# The `write` execution option of a transaction that takes SQLite's write lock only if it is
# free at once.
NO_WAIT = "no_wait"
SQLITE_BUSY = 5  # SQLite's primary result code for a lock another connection holds


_ROW_LOCK = "SELECT 1 FROM tenant_state WHERE tenant_state.tenant_id = ? FOR UPDATE"


@contextmanager
def write_transaction(engine: Engine, tenant_id: int, wait: bool = True) -> Iterator[Connection]:
    """One transaction for one push: all of it commits or none of it does.

    Writes of one tenant are serialised (SQLite: the database write lock; PostgreSQL: a
    transaction-scoped advisory lock on the tenant; Citus: the tenant's `tenant_state` row), so
    concurrent pushes cannot deadlock and the final state is the state of the last committed push
    (SPEC 7). Tenants write in parallel on PostgreSQL.

    With `wait` False (SQLite only), WriteLockBusy when another connection holds the write
    lock, instead of waiting for it: for a caller that must not block (routes/push.py).
    """
    with engine.connect() as conn:
        if wait:
            conn = conn.execution_options(write=True)
        else:
            assert conn.dialect.name == "sqlite", "only SQLite's write lock can be tried"
            conn = conn.execution_options(write=NO_WAIT)
        try:
            transaction = conn.begin()
        except OperationalError as error:
            code = getattr(error.orig, "sqlite_errorcode", 0)
            if not wait and code & 0xFF == SQLITE_BUSY:  # (or one of its extended codes)
                raise WriteLockBusy() from None
            raise
        with transaction:
            if is_distributed(conn):
                # A tenant's pushes may enter at any node (store/placement.py), and an advisory
                # lock holds on its own node only; the row is held by the tenant's shard.
                run_driver(conn, _ROW_LOCK, (tenant_id,))
            elif conn.dialect.name == "postgresql":
                lock = "SELECT pg_advisory_xact_lock(?, ?)"
                run_driver(conn, lock, (TENANT_LOCK_SPACE, tenant_id))
            yield conn
