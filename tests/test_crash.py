"""Crash safety (SPEC 3, 7): a server killed with SIGKILL in the middle of a large push leaves
that push applied completely or not at all, and starts again cleanly on the same database.

Each trial pushes 10,000 contacts to a real server, waits until the push's transaction is open
(the only moment a kill can tear a push), waits a little longer (a different time per trial, so
kills land early, late and after the commit), kills the server, starts a new one on the same
database and counts what the push left.
"""

import json
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import EXAMPLES, TestTenant
from sqlalchemy import Engine, func, make_url, select
from support.server import ServerProcess

from pushapi.store.engine import TENANT_LOCK_SPACE
from pushapi.store.tables import contacts, groups, memberships, push_log

BATCH = 10_000
GROUPS = 50
# When each trial kills the server: seconds after the push's transaction opened, or at once
# after it committed.
KILL_AIMS = ("0", "0.2", "0.5", "1.0", "after-commit")


def crash_batch() -> bytes:
    """10,000 distinct contacts cut from the canonical example: a few details, one membership
    (of 50 groups), one e-mail. Tenants differ per trial, so one body serves every trial."""
    canonical = json.loads((EXAMPLES / "canonical-contacts.json").read_text())[0]
    kept = ("FirstName", "Prefix", "OrganizationName", "Title", "MemberSince", "IsMember")
    details = {name: canonical["ContactDetails"][name] for name in kept}
    records = [
        {
            "ContactDetails": {
                **details,
                "ContactId": f"K{i:05d}",
                "LastName": f"L{i}",
                "PrimaryEmailAddress": f"k{i}@example.org",
            },
            "Groups": [{**canonical["Groups"][1], "GroupId": f"KG{i % GROUPS:02d}"}],
            "EmailAddresses": [
                {**canonical["EmailAddresses"][0], "EmailAddress": f"k{i}@example.org"}
            ],
        }
        for i in range(BATCH)
    ]
    return json.dumps(records).encode()


def push_is_writing(database_url: str, tenant_id: int) -> bool:
    """Whether a transaction of the tenant's push is open right now."""
    if database_url.startswith("sqlite"):
        # SPEC 7 / store/engine.py: a push writes under SQLite's one write lock.
        probe = sqlite3.connect(make_url(database_url).database or "", timeout=0)
        probe.isolation_level = None
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    import psycopg

    url = make_url(database_url)
    with psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone():
            # store/engine.py: on Citus a push holds its tenant's tenant_state row instead, on
            # the node of the tenant's shards, whichever node it entered at.
            free = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM tenant_state WHERE tenant_id = %s"
                " FOR UPDATE SKIP LOCKED) AS row",
                (tenant_id,),
            ).fetchone()
            conn.rollback()
            return not (free and free[0])
        # store/engine.py: a push holds its tenant's advisory lock for its whole transaction.
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND objsubid = 2",
            (TENANT_LOCK_SPACE, tenant_id),
        ).fetchone()
        return bool(row and row[0])


def stored_counts(engine: Engine, tenant_id: int) -> dict[str, int]:
    counted = {}
    with engine.connect() as conn:
        for table in (contacts, memberships, groups, push_log):
            query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            counted[table.name] = conn.execute(query).scalar_one()
    return counted


def push_in_background(
    base_url: str, tenant: TestTenant, body: bytes, query: str = ""
) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            response = httpx.post(
                f"{base_url}/v2/contactinfo{query}",
                content=body,
                headers=tenant.headers,
                timeout=300,
            )
            outcome["status"] = response.status_code
        except httpx.TransportError as error:
            outcome["error"] = type(error).__name__

    outcome["thread"] = threading.Thread(target=run)
    outcome["thread"].start()
    return outcome


def wait_until(condition: Callable[[], bool], give_up: Callable[[], bool]) -> bool:
    """Poll `condition` until it holds (True) or `give_up` does (False); at most two minutes."""
    deadline = time.monotonic() + 120
    while not condition():
        if give_up():
            return False
        assert time.monotonic() < deadline, "gave up waiting for the push"
        time.sleep(0.005)
    return True


@dataclass
class Trial:
    """One kill: when it was aimed, what the push's transaction was doing, what survived."""

    aim: str
    writing_at_kill: bool = False
    answer: str = ""
    applied: bool = False
    seconds: float = 0.0


def kill_during_push(
    server: ServerProcess,
    tenant: TestTenant,
    body: bytes,
    database_url: str,
    aim: str,
    query: str = "",
) -> Trial:
    """Push `body` and SIGKILL the server: `aim` is a delay in seconds after the push's
    transaction opened, or "after-commit" (as soon as the transaction is over)."""
    trial = Trial(aim)
    push = push_in_background(server.base_url, tenant, body, query)

    def writing() -> bool:
        return push_is_writing(database_url, tenant.tenant_id)

    def answered() -> bool:
        return not push["thread"].is_alive()

    wait_until(writing, give_up=answered)
    if aim == "after-commit":
        wait_until(lambda: not writing(), give_up=lambda: False)
    else:
        time.sleep(float(aim))
    trial.writing_at_kill = writing()
    server.stop(signal.SIGKILL)
    push["thread"].join(timeout=60)
    assert server.process.returncode == -signal.SIGKILL
    trial.answer = str(push.get("status", push.get("error")))
    return trial


def check_after_restart(
    server: ServerProcess, tenant: TestTenant, engine: Engine, trial: Trial
) -> None:
    """The push is all or nothing, the server is healthy and the tenant can push again."""
    health = httpx.get(f"{server.base_url}/healthz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    counted = stored_counts(engine, tenant.tenant_id)
    trial.applied = counted["contacts"] == BATCH
    expected = {"contacts": BATCH, "memberships": BATCH, "groups": GROUPS, "push_log": 1}
    assert counted == (expected if trial.applied else dict.fromkeys(expected, 0)), trial
    if trial.answer == "200":
        assert trial.applied, "a 200 means committed and durable"
    headers = {"ApiKey": tenant.api_key}
    for contact_id in ("K00000", f"K{BATCH - 1:05d}"):
        found = httpx.get(f"{server.base_url}/v2/contacts/{contact_id}", headers=headers)
        assert found.status_code == (200 if trial.applied else 404), trial
    # No lock and no half-written state is left behind: the tenant pushes again at once.
    again = httpx.post(
        f"{server.base_url}/v2/contactinfo",
        json=[{"ContactDetails": {"ContactId": "K00000", "FirstName": "After"}}],
        headers=tenant.headers,
        timeout=120,
    )
    assert again.status_code == 200, again.text
    assert again.json()["updated" if trial.applied else "created"] == 1


@pytest.mark.slow
def test_sigkill_during_a_large_push_leaves_all_or_nothing_and_restarts_cleanly(
    start_server: Callable[..., ServerProcess],
    make_tenant: Callable[..., TestTenant],
    engine: Engine,
    database_url: str,
) -> None:
    """5 trials of 10,000 contacts: 4 kills while the transaction is open (0 to 1 s after it
    opened) and one just after it committed, maybe before the answer was sent."""
    body = crash_batch()
    server = start_server()
    trials = []
    for aim in KILL_AIMS:
        started = time.monotonic()
        tenant = make_tenant()
        # A key's first use is recorded in a write of its own; let that happen before the push.
        httpx.get(f"{server.base_url}/v2/pushes", headers=tenant.headers).raise_for_status()
        trial = kill_during_push(server, tenant, body, database_url, aim)
        server = start_server()  # on the same database, as after a crash
        check_after_restart(server, tenant, engine, trial)
        trial.seconds = round(time.monotonic() - started, 1)
        trials.append(trial)
    print("\n" + "\n".join(str(trial) for trial in trials))
    assert any(t.writing_at_kill and not t.applied for t in trials), "no kill tore a transaction"
    assert trials[-1].applied, "a push killed after its commit is kept"


@pytest.mark.slow
def test_sigkill_during_a_push_with_on_error_skip_leaves_none_of_its_valid_records(
    start_server: Callable[..., ServerProcess],
    make_tenant: Callable[..., TestTenant],
    engine: Engine,
    database_url: str,
) -> None:
    """SPEC 3.2: with ?onError=skip the valid records are applied together, in one transaction:
    a kill while it is open leaves none of them (and the push log holds nothing either)."""
    records = json.loads(crash_batch())
    for index in range(7, BATCH, 100):  # one record in 100 invalid: 9,900 valid
        records[index]["ContactDetails"]["Age"] = "old"
    body = json.dumps(records).encode()
    valid = BATCH - len(range(7, BATCH, 100))
    server = start_server()
    trials = []
    for aim in ("0", "0.3"):
        tenant = make_tenant()
        httpx.get(f"{server.base_url}/v2/pushes", headers=tenant.headers).raise_for_status()
        trial = kill_during_push(server, tenant, body, database_url, aim, "?onError=skip")
        server = start_server()
        counted = stored_counts(engine, tenant.tenant_id)
        trial.applied = counted["contacts"] == valid
        expected = {"contacts": valid, "memberships": valid, "groups": GROUPS, "push_log": 1}
        assert counted == (expected if trial.applied else dict.fromkeys(expected, 0)), trial
        if trial.answer == "200":
            assert trial.applied, "a 200 means committed and durable"
        trials.append(trial)
    print("\n" + "\n".join(str(trial) for trial in trials))
    assert any(t.writing_at_kill and not t.applied for t in trials), "no kill tore a transaction"
