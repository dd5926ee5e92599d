"""SQLite's write-ahead log is copied into the database file by the server's checkpoint thread
(store/checkpoints.py), not by the push whose commit takes it past SQLite's default size."""

import time

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from pushapi.app import create_app
from pushapi.store.checkpoints import SAFETY_PAGES, Checkpointer


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
    deadline = time.monotonic() + 10
    while not copied_at_least(checkpointer, 200) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert copied_at_least(checkpointer, 200), checkpointer.last


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
        assert event.contains(checkpointer.engine, "commit", checkpointer._committed)
    assert not checkpointer._thread.is_alive()
    assert not event.contains(checkpointer.engine, "commit", checkpointer._committed)
