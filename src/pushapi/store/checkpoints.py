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
import urllib.parse
from typing import Any

from sqlalchemy import Connection, Engine, event

log = logging.getLogger("pushapi.checkpoints")

# The log's size, in pages, past which a committing connection checkpoints by itself (SQLite's
# wal_autocheckpoint; its default is 1,000): larger than a push of 1,000 contacts writes.
SAFETY_PAGES = 10_000
PAUSE = 0.1  # seconds at least between two checkpoints: small commits are copied together
BUSY_TIMEOUT = 5.0  # seconds the checkpointer's connection waits to open the database
WARN_EVERY = 60.0  # seconds at least between two warnings of failed checkpoints

# Set on a pooled connection's record by a write transaction's commit, taken at its check-in.
_WROTE = "pushapi_wrote"


class Checkpointer:
    """One thread per engine of a SQLite database file: after a write transaction has committed,
    it runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own, which waits for no
    reader or writer and copies what it can, and again shortly after while pages are left."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runs = 0  # checkpoints run
        self.last: tuple[int, int, int] | None = None  # (busy, log pages, pages copied)
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._warned_at = float("-inf")

    @staticmethod
    def applies(engine: Engine) -> bool:
        """Whether `engine` is a SQLite database file (an in-memory one has no log)."""
        database = engine.url.database
        return (
            engine.dialect.name == "sqlite"
            and bool(database)
            and ":memory:" not in str(database)
            and "mode=memory" not in str(engine.url)
        )

    def start(self) -> None:
        event.listen(self.engine, "commit", self._committing)
        event.listen(self.engine, "checkin", self._checked_in)
        self._thread = threading.Thread(target=self._run, name="pushapi-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a second call does nothing); the log is left to the connections."""
        if self._stopping:
            return
        self._stopping = True
        event.remove(self.engine, "commit", self._committing)
        event.remove(self.engine, "checkin", self._checked_in)
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _committing(self, conn: Connection) -> None:
        # SQLAlchemy announces a commit before the database has made it: the checkpoint is
        # wanted once the connection is back in the pool, its transaction over either way.
        if conn.get_execution_options().get("write") and not self._stopping:
            conn.connection.info[_WROTE] = True

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_WROTE, False) and not self._stopping:
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
                    connection = self._connect()
                row: Any = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                busy, pages, copied = int(row[0]), int(row[1]), int(row[2])
                self.last = (busy, pages, copied)
                self.runs += 1
                if 0 <= copied < pages:
                    # A reader's snapshot still needs the rest (or a writer came between): try
                    # again after the pause even if nothing more commits.
                    self._wanted.set()
            except sqlite3.Error as error:
                # The next commit tries again; connections checkpoint by themselves meanwhile.
                self._warn(error)
                if connection is not None:
                    connection.close()
                connection = None
            if self._stopping:
                break
            time.sleep(PAUSE)
        if connection is not None:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        """A connection to the engine's database file, opened as the engine opens it, which
        does not create the file if it is gone."""
        arguments, options = self.engine.dialect.create_connect_args(self.engine.url)
        (filename,) = arguments
        if not str(filename).startswith("file:"):  # a path (SQLite reads only file: as a URI)
            filename = "file:" + urllib.parse.quote(str(filename))
            options = {**options, "uri": True}
        if "mode=" not in filename:
            filename += ("&" if "?" in filename else "?") + "mode=rw"
        options = {**options, "timeout": BUSY_TIMEOUT, "isolation_level": None}
        options["check_same_thread"] = False
        connection: sqlite3.Connection = sqlite3.connect(filename, **options)
        connection.execute("PRAGMA synchronous=FULL")  # as the server's (store/engine.py)
        return connection

    def _warn(self, error: sqlite3.Error) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("checkpoint failed: %s: %s", error.__class__.__name__, error)
