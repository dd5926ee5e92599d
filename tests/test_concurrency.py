"""Concurrent pushes against a real server (SPEC 7): clients pushing overlapping contacts, groups
and lists at once neither deadlock nor lose updates, and nothing answers 5xx; every record ends
as the last committed push left it.

How the test knows "last committed": every pushed record carries a value unique to its push
(a contact's LastName, a group's and a list's name), so the stored state names the push that
wrote it. The order in which the pushes committed is read from the push log, whose row each push
writes inside its own transaction: on SQLite in rowid order (one writer at a time holds the
database), on PostgreSQL in transaction-id order (a push takes its tenant's lock before its first
write, which is when PostgreSQL numbers the transaction). Replaying the pushes in that order on a
small model of SPEC 4.1/4.2 must give exactly the counts of every response and exactly the state
the read API returns; and a push answered before another was sent must have committed first.
"""

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import TestTenant
from sqlalchemy import Engine, text, update
from support.server import ServerProcess

from pushapi.push.endpoints import PUSH_ENDPOINTS
from pushapi.store.engine import write_transaction
from pushapi.store.tables import tenant_state

ROLES = ("Member", "Chair")
LIST_MODES = ("Add", "Remove", "Replace")
HAS_LISTS = any(endpoint.name == "list" for endpoint in PUSH_ENDPOINTS)


@dataclass
class Push:
    """One planned push request and, once sent, what became of it."""

    tenant: TestTenant
    marker: str  # unique to this push; every record it writes carries it
    endpoint: str
    records: list[dict[str, Any]]
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    sent_at: float = 0.0
    answered_at: float = 0.0


@dataclass
class Pool:
    """The ids the pushes of one tenant overlap on."""

    contacts: list[str]
    groups: list[str]
    lists: list[str]


def make_pool(contacts: int = 40, groups: int = 8, lists: int = 4) -> Pool:
    return Pool(
        [f"C{i:03d}" for i in range(contacts)],
        [f"G{i:02d}" for i in range(groups)],
        [f"L{i}" for i in range(lists)],
    )


def contact_push(tenant: TestTenant, marker: str, pool: Pool, rng: random.Random) -> Push:
    """12 overlapping contacts; some deleted, the others with 0-3 memberships."""
    records = []
    for position, contact_id in enumerate(rng.sample(pool.contacts, 12)):
        if rng.random() < 0.15:
            records.append({"ContactDetails": {"ContactId": contact_id, "IsDeleted": True}})
            continue
        memberships = [
            {
                "GroupId": group_id,
                # The group's name takes the last pushed value (SPEC 4.1): unique per record.
                "GroupName": f"{marker}/{position}",
                "GroupType": "Committee",
                "Role": rng.choice(ROLES),
            }
            for group_id in rng.sample(pool.groups, rng.randint(0, 3))
        ]
        records.append(
            {
                "ContactDetails": {"ContactId": contact_id, "FirstName": "Pat", "LastName": marker},
                "Groups": memberships,
            }
        )
    return Push(tenant, marker, "contactinfo", records)


def list_push(tenant: TestTenant, marker: str, pool: Pool, rng: random.Random) -> Push:
    """Two records on overlapping lists, in any mode."""
    records = [
        {
            "ListId": rng.choice(pool.lists),
            "ListName": f"{marker}/{position}",
            "Mode": rng.choice(LIST_MODES),
            "ContactIds": rng.sample(pool.contacts, rng.randint(0, 6)),
        }
        for position in range(2)
    ]
    return Push(tenant, marker, "list", records)


def plan_clients(
    tenants: list[TestTenant], clients_per_tenant: int, pushes_per_client: int, seed: int
) -> list[list[Push]]:
    """For each client, its pushes in the order it sends them; every third one is a list push
    when the server has lists."""
    pool = make_pool()
    plans = []
    for tenant in tenants:
        for client in range(clients_per_tenant):
            rng = random.Random(f"{seed}-{tenant.code}-{client}")
            plan = []
            for step in range(pushes_per_client):
                marker = f"{tenant.code}-c{client}-s{step:02d}"
                if HAS_LISTS and step % 3 == 2:
                    plan.append(list_push(tenant, marker, pool, rng))
                else:
                    plan.append(contact_push(tenant, marker, pool, rng))
            plans.append(plan)
    return plans


def send_concurrently(base_url: str, plans: list[list[Push]]) -> float:
    """Run each plan in its own thread, all at once, one request after the other within a
    plan; every request on a new connection (so a multi-worker server spreads them). Returns
    the seconds it took."""
    barrier = threading.Barrier(len(plans))

    def run(plan: list[Push]) -> None:
        barrier.wait()
        for push in plan:
            headers = {"ApiKey": push.tenant.api_key, "Connection": "close"}
            push.sent_at = time.monotonic()
            response = httpx.post(
                f"{base_url}/v2/{push.endpoint}", json=push.records, headers=headers, timeout=120
            )
            push.answered_at = time.monotonic()
            push.status = response.status_code
            push.body = response.json()

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a client is still waiting"
    return time.monotonic() - started


def commit_order(engine: Engine, tenant_id: int) -> list[str]:
    """The request ids of a tenant's logged pushes in the order their transactions committed."""
    # See the module docstring for why these orders are the commit order.
    order_by = "xmin::text::bigint" if engine.dialect.name == "postgresql" else "rowid"
    query = text(f"SELECT request_id FROM push_log WHERE tenant_id = :tenant ORDER BY {order_by}")
    with engine.connect() as conn:
        return list(conn.execute(query, {"tenant": tenant_id}).scalars())


@dataclass
class Model:
    """SPEC 4.1/4.2 for the records these tests push: what the state should be."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_names: dict[str, str] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, push: Push) -> dict[str, int]:
        counts = dict.fromkeys(("created", "updated", "deleted", "unchanged"), 0)
        for record in push.records:
            if push.endpoint == "list":
                counts[self._apply_list(record)] += 1
            else:
                counts[self._apply_contact(record)] += 1
        return counts

    def _apply_contact(self, record: dict[str, Any]) -> str:
        contact_id = record["ContactDetails"]["ContactId"]
        stored = self.contacts.get(contact_id)
        if record["ContactDetails"].get("IsDeleted"):
            if stored is None or stored["deleted"]:
                return "unchanged"
            stored["deleted"] = True
            return "deleted"
        for membership in record["Groups"]:
            self.group_names[membership["GroupId"]] = membership["GroupName"]
        memberships = sorted((m["GroupId"], m["Role"]) for m in record["Groups"])
        content = (record["ContactDetails"]["LastName"], memberships)
        self.contacts[contact_id] = {"deleted": False, "content": content}
        if stored is None:
            return "created"
        return "updated" if stored["deleted"] or stored["content"] != content else "unchanged"

    def _apply_list(self, record: dict[str, Any]) -> str:
        stored = self.lists.get(record["ListId"])
        state = {"name": record["ListId"], "members": set()} if stored is None else stored
        before = (state["name"], set(state["members"]))
        ids = set(record["ContactIds"])
        members = {
            "Add": state["members"] | ids,
            "Remove": state["members"] - ids,
            "Replace": ids,
        }[record["Mode"]]
        state = {"name": record["ListName"], "members": members}
        self.lists[record["ListId"]] = state
        if stored is None:
            return "created"
        return "updated" if (state["name"], state["members"]) != before else "unchanged"


def read_state(base_url: str, tenant: TestTenant) -> dict[str, Any]:
    """Everything the read API shows of the tenant's contacts, groups and lists."""
    headers = {"ApiKey": tenant.api_key}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as api:
        found = api.get("/v2/contacts", params={"includeDeleted": "true", "limit": 1000}).json()
        assert found["nextCursor"] is None
        contacts = {}
        for contact in found["items"]:
            memberships = sorted((m["GroupId"], m["Role"]) for m in contact["Groups"])
            contacts[contact["ContactDetails"]["ContactId"]] = {
                "deleted": contact["Meta"]["IsDeleted"],
                "content": (contact["ContactDetails"]["LastName"], memberships),
            }
        groups = api.get("/v2/groups", params={"limit": 1000}).json()["items"]
        group_names = {group["GroupId"]: group["GroupName"] for group in groups}
        active = {
            group["GroupId"]: sorted(
                (m["ContactId"], m["Role"])
                for m in api.get(f"/v2/groups/{group['GroupId']}").json()["ActiveMembers"]
            )
            for group in groups
        }
        lists = {}
        if HAS_LISTS:
            for item in api.get("/v2/lists", params={"limit": 1000}).json()["items"]:
                detail = api.get(f"/v2/lists/{item['ListId']}").json()
                lists[item["ListId"]] = {
                    "name": detail["ListName"],
                    "members": set(detail["ContactIds"]),
                }
    return {"contacts": contacts, "group_names": group_names, "active": active, "lists": lists}


def check_last_committed_push_wins(
    base_url: str, engine: Engine, tenant: TestTenant, pushes: list[Push]
) -> None:
    """The contract, for one tenant's pushes once all are answered (see the module docstring)."""
    failed = [(p.marker, p.status, p.body) for p in pushes if p.status != 200]
    assert failed == [], "every concurrent push must succeed"
    by_request = {push.body["requestId"]: push for push in pushes}
    order = commit_order(engine, tenant.tenant_id)
    assert sorted(order) == sorted(by_request), "each answered push is logged exactly once"
    position = {request_id: i for i, request_id in enumerate(order)}
    for earlier in pushes:
        for later in pushes:
            if earlier.answered_at < later.sent_at:
                assert position[earlier.body["requestId"]] < position[later.body["requestId"]], (
                    f"{earlier.marker} was answered before {later.marker} was sent, "
                    "so it must have committed first"
                )
    model = Model()
    for request_id in order:
        push = by_request[request_id]
        expected = model.apply(push)
        answered = {outcome: push.body[outcome] for outcome in expected}
        assert answered == expected, f"counts of {push.marker} (commit {position[request_id]})"
    state = read_state(base_url, tenant)
    assert state["contacts"] == model.contacts
    assert state["group_names"] == model.group_names
    expected_active = {
        group_id: sorted(
            (contact_id, role)
            for contact_id, contact in model.contacts.items()
            if not contact["deleted"]
            for member_group, role in contact["content"][1]
            if member_group == group_id
        )
        for group_id in model.group_names
    }
    assert state["active"] == expected_active
    assert state["lists"] == model.lists


@pytest.mark.slow
def test_overlapping_pushes_of_eight_clients_end_as_the_last_committed_push_left_them(
    start_server: Callable[..., ServerProcess], make_tenant: Callable[..., TestTenant], engine
) -> None:
    """8 clients x 15 pushes to one tenant, overlapping on 40 contacts, 8 groups, 4 lists."""
    server = start_server()
    tenant = make_tenant()
    plans = plan_clients([tenant], clients_per_tenant=8, pushes_per_client=15, seed=1)
    send_concurrently(server.base_url, plans)
    check_last_committed_push_wins(
        server.base_url, engine, tenant, [push for plan in plans for push in plan]
    )


@pytest.mark.slow
def test_tenants_pushing_at_once_each_end_as_their_last_committed_push_left_them(
    start_server: Callable[..., ServerProcess], make_tenant: Callable[..., TestTenant], engine
) -> None:
    """3 tenants x 2 clients x 6 pushes on the same ids: tenants write in parallel (on
    PostgreSQL) and none sees another's records."""
    server = start_server()
    tenants = [make_tenant() for _ in range(3)]
    plans = plan_clients(tenants, clients_per_tenant=2, pushes_per_client=6, seed=2)
    send_concurrently(server.base_url, plans)
    for tenant in tenants:
        pushes = [push for plan in plans for push in plan if push.tenant is tenant]
        check_last_committed_push_wins(server.base_url, engine, tenant, pushes)


def _push_in_background(base_url: str, tenant: TestTenant) -> dict[str, Any]:
    """Start one small push in a thread; the dict gets its status when it is answered."""
    outcome: dict[str, Any] = {}
    record = {"ContactDetails": {"ContactId": "W1", "FirstName": "Wait", "LastName": "Here"}}

    def run() -> None:
        response = httpx.post(
            f"{base_url}/v2/contactinfo", json=[record], headers=tenant.headers, timeout=120
        )
        outcome["status"] = response.status_code

    outcome["thread"] = threading.Thread(target=run)
    outcome["thread"].start()
    return outcome


def test_a_push_waits_for_its_tenants_writer_instead_of_failing(
    start_server: Callable[..., ServerProcess],
    make_tenant: Callable[..., TestTenant],
    engine: Engine,
    engine_name: str,
) -> None:
    """While another transaction writes for tenant A (a push in progress), A's push waits (no
    error) and commits after it. Tenant B is not held up on PostgreSQL; on SQLite the database
    has one writer at a time, so B waits too."""
    server = start_server()
    held, other = make_tenant(), make_tenant()
    for tenant in (held, other):  # first use of a key records it; do that before the hold
        assert httpx.get(f"{server.base_url}/v2/pushes", headers=tenant.headers).status_code == 200
    with write_transaction(engine, held.tenant_id) as conn:
        # What a push of A moves on, held uncommitted (a push in progress).
        conn.execute(
            update(tenant_state)
            .where(tenant_state.c.tenant_id == held.tenant_id)
            .values(contacts_version=tenant_state.c.contacts_version + 1)
        )
        waiting = _push_in_background(server.base_url, held)
        passing = _push_in_background(server.base_url, other)
        if engine_name == "postgresql":
            passing["thread"].join(timeout=30)
            assert passing.get("status") == 200
        time.sleep(1.5)
        assert "status" not in waiting, "the push must wait for the tenant's writer"
    waiting["thread"].join(timeout=30)
    passing["thread"].join(timeout=30)
    assert (waiting.get("status"), passing.get("status")) == (200, 200)
