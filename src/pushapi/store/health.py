"""Whether the database can take pushes (GET /healthz): reachable, and writable.

Checked on a connection of its own, outside the pool that requests share, so that busy requests
(one tenant's queue of pushes, say) never make the server look down, and with short timeouts,
so that /healthz answers quickly whatever the database does. A database busy with writes is
healthy: only one that cannot be written at all is reported.
"""

import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

# Below this much free disk space a push may not fit (its body, the WAL): report it.
MIN_FREE_BYTES = 16 * 1024 * 1024
TIMEOUT_SECONDS = 2

OK = "ok"
UNREACHABLE = "unreachable"
READ_ONLY = "read-only"
DISK_FULL = "disk full"


def health_engine(url: URL) -> Engine:
    """An engine for the checks: no pool, a short connect timeout."""
    if url.get_backend_name() == "sqlite":
        return create_engine(url, poolclass=NullPool)
    return create_engine(
        url.update_query_dict({"connect_timeout": str(TIMEOUT_SECONDS)}), poolclass=NullPool
    )


def database_health(engine: Engine) -> str:
    """OK, UNREACHABLE, READ_ONLY or DISK_FULL."""
    if engine.dialect.name == "sqlite":
        return _sqlite_health(engine.url.database)
    try:
        with engine.connect() as conn:
            read_only = conn.execute(text("SHOW transaction_read_only")).scalar_one()
    except SQLAlchemyError:
        return UNREACHABLE
    return READ_ONLY if read_only == "on" else OK


def _sqlite_health(database: str | None) -> str:
    if not database or database == ":memory:":
        return OK
    path = Path(database)
    if not path.is_file():
        return UNREACHABLE
    if not _opens_for_writing(path):
        return READ_ONLY
    try:
        # No wait for the write lock: a database busy with a write can be written.
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0)
    except sqlite3.Error:
        return UNREACHABLE
    try:
        conn.isolation_level = None
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        try:
            # A committed write of the header, unchanged: what a push needs (a rolled-back write
            # never reaches the files).
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except sqlite3.OperationalError as error:
            text = str(error)
            if "readonly" in text or "read-only" in text:
                return READ_ONLY
            if "full" in text:
                return DISK_FULL
            if "locked" not in text and "busy" not in text:
                return UNREACHABLE
            # Busy: another connection writes, so the database can be written.
    except sqlite3.Error:
        return UNREACHABLE
    finally:
        conn.close()
    if shutil.disk_usage(path.parent).free < MIN_FREE_BYTES:
        return DISK_FULL
    return OK


def _opens_for_writing(path: Path) -> bool:
    """Whether the file could be opened for writing (not on a read-only mount, not write
    protected, not immutable), asked without opening it: closing a descriptor of a database
    file drops every lock SQLite's connections of this process hold on it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
