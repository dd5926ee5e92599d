"""SQLite's write-ahead log copied into the database file by a thread of its own, not by the push
that happens to commit past the log's size limit.

In WAL mode SQLite appends each commit to the log (made durable there, SPEC 7) and copies the
log back into the database file in a checkpoint. By default the connection whose commit takes
the log past 1,000 pages runs that checkpoint itself, before its commit returns: a first load of
1,000 contacts writes about 1,100 pages, so nearly every such push paid a checkpoint (copying
its pages again and syncing the database file) before it could answer, and one small push in a
few hundred paid for the others. A server's `Checkpointer` runs a passive checkpoint shortly
after writes commit instead, on the other CPU while the next request is read. Connections still
checkpoint themselves past SAFETY_PAGES (store/engine.py), so the log stays bounded in a process
without a checkpointer (a command) or when this thread falls behind.
"""

import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine, event

log = logging.getLogger("pushapi.checkpoints")

# The log's size, in pages, past which a committing connection checkpoints by itself (SQLite's
# wal_autocheckpoint; its default is 1,000): larger than a push of 1,000 contacts writes.
SAFETY_PAGES = 10_000
PAUSE = 0.1  # seconds at least between two checkpoints: small commits are copied together
BUSY_TIMEOUT = 5.0  # seconds the checkpointer's connection waits to open the database


class Checkpointer:
    """One thread per engine of a SQLite database file: after a write transaction commits, it
    runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own, which waits for no reader
    or writer and copies what it can."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.path = engine.url.database
        self.runs = 0  # checkpoints run
        self.last: tuple[int, int, int] | None = None  # (busy, log pages, pages copied)
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @staticmethod
    def applies(engine: Engine) -> bool:
        """Whether `engine` is a SQLite database file (an in-memory one has no log)."""
        database = engine.url.database
        return (
            engine.dialect.name == "sqlite"
            and bool(database)
            and database != ":memory:"
            and "mode=memory" not in str(engine.url)
        )

    def start(self) -> None:
        event.listen(self.engine, "commit", self._committed)
        self._thread = threading.Thread(target=self._run, name="pushapi-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        event.remove(self.engine, "commit", self._committed)
        self._stopping = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _committed(self, conn: Connection) -> None:
        if conn.get_execution_options().get("write"):
            self._wanted.set()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            self._wanted.wait()
            if self._stopping:
                break
            self._wanted.clear()
            try:
                if connection is None:
                    connection = _connect(str(self.path))
                row: Any = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.last = (int(row[0]), int(row[1]), int(row[2]))
                self.runs += 1
            except sqlite3.Error as error:
                # The next commit tries again; connections checkpoint by themselves meanwhile.
                log.warning("checkpoint failed: %s", error.__class__.__name__)
                if connection is not None:
                    connection.close()
                connection = None
            if self._stopping:
                break
            time.sleep(PAUSE)
        if connection is not None:
            connection.close()


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    connection.execute("PRAGMA synchronous=FULL")  # as the server's (store/engine.py)
    return connection
