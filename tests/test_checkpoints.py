"""SQLite's write-ahead log is copied into the database file by the server's checkpoint thread
(store/checkpoints.py), not by the push whose commit takes it past SQLite's default size."""

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event

from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.store import checkpoints
from pushapi.store.checkpoints import SAFETY_PAGES, Checkpointer
from pushapi.store.engine import build_engine, write_transaction


def contacts(count: int, first: int = 0) -> bytes:
    return orjson.dumps(
        [
            {"ContactDetails": {"ContactId": f"W-{n}", "LastName": "Doe", "Bio": "x" * 3000}}
            for n in range(first, first + count)
        ]
    )


def test_a_pushed_commit_is_copied_into_the_database_by_the_checkpoint_thread(
    client, tenant, engine_name
):
    checkpointer = client.app.state.checkpointer
    if engine_name != "sqlite":
        assert checkpointer is None  # PostgreSQL has its own
        return
    assert isinstance(checkpointer, Checkpointer)
    response = client.post("/v2/contactinfo", content=contacts(200), headers=tenant.headers)
    assert response.status_code == 200, response.text
    # 200 contacts of 3 KB each: hundreds of pages in the log, which the thread copies (all of
    # them, as nothing else is writing). A connection would do it only past SAFETY_PAGES.
    assert waited_for(lambda: copied_at_least(checkpointer, 200)), checkpointer.last


def waited_for(condition: Callable[[], bool], seconds: float = 10) -> bool:
    """Whether `condition` came true within `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def copied_at_least(checkpointer: Checkpointer, pages: int) -> bool:
    last = checkpointer.last
    return last is not None and last[0] == 0 and last[1] >= pages and last[2] == last[1]


def test_a_connection_checkpoints_by_itself_only_past_the_safety_size(engine: Engine, engine_name):
    if engine_name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SAFETY_PAGES


def test_the_thread_stops_with_the_app(settings, engine_name):
    if engine_name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    with TestClient(create_app(settings)) as client:
        checkpointer = client.app.state.checkpointer
        assert checkpointer._thread is not None and checkpointer._thread.is_alive()
        assert event.contains(checkpointer.engine, "commit", checkpointer._committing)
        assert event.contains(checkpointer.engine, "checkin", checkpointer._checked_in)
    assert not checkpointer._thread.is_alive()
    assert not event.contains(checkpointer.engine, "commit", checkpointer._committing)
    assert not event.contains(checkpointer.engine, "checkin", checkpointer._checked_in)
    checkpointer.stop()  # a second time: nothing to do


@pytest.fixture
def file_engine(tmp_path: Path, engine_name: str) -> Iterator[Engine]:
    """A server's engine on a new SQLite file of its own, written by nothing else."""
    if engine_name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    engine = build_engine(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}"))
    yield engine
    engine.dispose()


@pytest.fixture
def checkpointer(file_engine: Engine) -> Iterator[Checkpointer]:
    """A checkpoint thread of its own on `file_engine`, stopped after the test."""
    checkpointer = Checkpointer(file_engine)
    checkpointer.start()
    yield checkpointer
    checkpointer.stop()


def test_the_last_commit_is_copied_though_nothing_is_written_after_it(
    file_engine: Engine, checkpointer: Checkpointer
):
    with write_transaction(file_engine, tenant_id=1) as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (body BLOB)")
        for _ in range(300):
            conn.exec_driver_sql("INSERT INTO scratch VALUES (randomblob(4000))")
    # One transaction and no write after it: the thread must have waited for the commit to be
    # made, not only announced, before it copied.
    assert waited_for(lambda: copied_at_least(checkpointer, 300)), checkpointer.last


def test_pages_a_reader_still_needs_are_copied_once_it_is_done(
    file_engine: Engine, checkpointer: Checkpointer
):
    with file_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (body BLOB)")
    with file_engine.connect() as reader:
        reader.exec_driver_sql("SELECT count(*) FROM scratch").scalar()  # a snapshot held
        with write_transaction(file_engine, tenant_id=1) as conn:
            for _ in range(100):
                conn.exec_driver_sql("INSERT INTO scratch VALUES (randomblob(4000))")
        assert waited_for(lambda: checkpointer.last is not None and checkpointer.last[1] >= 100)
        last = checkpointer.last
        assert last is not None and last[2] < last[1], last  # held back by the reader
        reader.commit()
    # Nothing commits any more: the thread tries again by itself.
    assert waited_for(lambda: copied_at_least(checkpointer, 100)), checkpointer.last


def test_the_thread_opens_the_database_file_without_creating_it(tmp_path: Path, engine_name):
    if engine_name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    for url in (
        f"sqlite:///{tmp_path / 'gone.db'}",
        f"sqlite:///{tmp_path / 'gone.db'}?uri=true",  # a path, though URIs are allowed
        f"sqlite:///file:{tmp_path / 'gone.db'}?cache=shared&uri=true",
    ):
        with pytest.raises(sqlite3.OperationalError):
            Checkpointer(create_engine(url))._connect()
    assert list(tmp_path.iterdir()) == []


def test_an_in_memory_database_has_no_checkpoint_thread(engine_name):
    if engine_name != "sqlite":
        pytest.skip("SQLite only")
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?cache=shared&uri=true"):
        assert not Checkpointer.applies(create_engine(url)), url
    assert Checkpointer.applies(create_engine("sqlite:///pushapi.db"))


def test_failed_checkpoints_are_logged_at_most_once_a_minute(
    tmp_path: Path, engine_name, caplog, monkeypatch
):
    if engine_name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(checkpoints, "PAUSE", 0.01)
    checkpointer = Checkpointer(create_engine(f"sqlite:///{tmp_path / 'gone.db'}"))
    checkpointer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="pushapi.checkpoints"):
            for _ in range(5):
                checkpointer._wanted.set()
                time.sleep(0.05)
    finally:
        checkpointer.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "pushapi.checkpoints"]
    assert len(warnings) == 1, warnings
    assert "unable to open database file" in warnings[0]
