"""Writes that must not hold up a request: refused pushes in the push log, and the last use of
API keys. One thread per server process batches them into short transactions of their own.

A refused push must answer at once, even while its tenant's pushes hold the write lock (SQLite's
is one for the whole database), and a read must never wait for a writer to note its key's use.
So these rows are queued and written a moment later, together, by this thread; it is the one
that waits for the lock, and it retries when the database is busy or away. A refusal reaches
the push log within about a second (`flush` writes what is queued at once; the push log's read
routes call it, so a client reading the log right after sees its refused push). What is queued
when the process is killed is lost: refusals changed nothing, and a key's last use is
approximate anyway (LAST_USED_RESOLUTION).
"""

import logging
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, or_, update
from sqlalchemy.exc import SQLAlchemyError

from pushapi.store.pushlog import LoggedPush, push_log_row, write_push_log
from pushapi.store.tables import api_keys

log = logging.getLogger("pushapi.background")

INTERVAL = 0.25  # seconds between writes while rows are queued
RETRY_FOR = 600.0  # seconds a push-log row is retried when the database refuses it
MAX_QUEUED = 100_000  # rows kept at the most; beyond it the oldest are dropped (and logged)


class BackgroundWriter:
    """Queues rows from any thread; one daemon thread writes them in batches. One writer per
    database in a process (`writer_for`), so that a read of the push log can write what any
    app of the process has queued."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Condition()
        self._push_rows: list[tuple[float, dict[str, Any]]] = []
        self._key_uses: dict[tuple[int, str], datetime] = {}
        self._writing = 0  # rows taken by the thread and not yet written
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wanted = 0  # flushes asked for
        self._done = 0  # flushes done

    def log_push(self, tenant_id: int, entry: LoggedPush) -> None:
        """Queue a refused push for the push log."""
        with self._lock:
            if len(self._push_rows) >= MAX_QUEUED:
                self._push_rows.pop(0)
                log.error("push log row dropped: too many queued")
            self._push_rows.append((time.monotonic(), push_log_row(tenant_id, entry)))
            self._start()
            self._lock.notify_all()

    def key_used(self, tenant_id: int, key_id: str, at: datetime) -> None:
        """Queue the time a key was used (the latest per key wins)."""
        with self._lock:
            self._key_uses[(tenant_id, key_id)] = at
            self._start()
            self._lock.notify_all()

    def pending(self) -> int:
        with self._lock:
            return len(self._push_rows) + len(self._key_uses) + self._writing

    def flush(self, timeout: float = 5.0) -> None:
        """Write what is queued now, and wait for the attempt (at most `timeout` seconds)."""
        with self._lock:
            if not (self._push_rows or self._key_uses or self._writing):
                return
            self._wanted += 1
            wanted = self._wanted
            self._start()
            self._lock.notify_all()
            self._lock.wait_for(lambda: self._done >= wanted, timeout)

    def close(self) -> None:
        """Write what is queued and stop the thread (at shutdown)."""
        self.flush()
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def _start(self) -> None:  # with the lock held
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="pushapi-background-writer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        failures = 0
        while True:
            with self._lock:
                self._lock.wait_for(
                    lambda: self._stopping or self._wanted > self._done,
                    INTERVAL if (self._push_rows or self._key_uses) else None,
                )
                if self._stopping and not (self._push_rows or self._key_uses):
                    return
                push_rows, self._push_rows = self._push_rows, []
                key_uses, self._key_uses = self._key_uses, {}
                self._writing = len(push_rows) + len(key_uses)
                wanted = self._wanted
            written = self._write(push_rows, key_uses)
            with self._lock:
                self._writing = 0
                if written:
                    failures = 0
                    self._done = max(self._done, wanted)
                else:
                    failures += 1
                    now = time.monotonic()
                    kept = [(t, row) for t, row in push_rows if now - t < RETRY_FOR]
                    if len(kept) < len(push_rows):
                        log.error("push log rows dropped: the database refused them for too long")
                    self._push_rows[:0] = kept  # before what came meanwhile
                    self._done = max(self._done, wanted)  # a flush does not wait for retries
                self._lock.notify_all()
            if not written:
                time.sleep(min(5.0, INTERVAL * 2**failures))

    def _write(
        self,
        push_rows: list[tuple[float, dict[str, Any]]],
        key_uses: dict[tuple[int, str], datetime],
    ) -> bool:
        if not (push_rows or key_uses):
            return True
        try:
            with self.engine.connect().execution_options(write=True) as conn, conn.begin():
                write_push_log(conn, [row for _, row in push_rows])
                _write_key_uses(conn, key_uses)
        except SQLAlchemyError:
            log.warning("background write failed; will retry", exc_info=True)
            return False
        return True


def _write_key_uses(conn: Connection, key_uses: dict[tuple[int, str], datetime]) -> None:
    if not key_uses:
        return
    k = api_keys.c
    statement = (
        update(api_keys)
        .where(
            k.tenant_id == bindparam("b_tenant"),
            k.key_id == bindparam("b_key"),
            or_(k.last_used_at.is_(None), k.last_used_at < bindparam("b_at")),
        )
        .values(last_used_at=bindparam("b_at"))
    )
    conn.execute(
        statement,
        [{"b_tenant": t, "b_key": key, "b_at": at} for (t, key), at in key_uses.items()],
    )


_writers: dict[str, BackgroundWriter] = {}
_writers_lock = threading.Lock()


def writer_for(engine: Engine) -> BackgroundWriter:
    """The process's writer for the database `engine` connects to."""
    key = engine.url.render_as_string(hide_password=False)
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = BackgroundWriter(engine)
        return writer
