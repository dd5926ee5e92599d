"""The change feed (SPEC 8): what each push appends, `seq` per tenant and gapless, the listing
(`after`, `limit`, `types`, `nextCursor`), retention and 410, and 8 clients pushing at once
through a real server."""

import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from support.server import ServerProcess, launch_server

from pushapi.store.changes import CHANGES_PER_ROW, EVENT_TYPES
from pushapi.store.retention import prune_changes
from pushapi.store.tables import change_events

CONTACTS = "/v2/contactinfo"


def contact(n: int, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": f"C{n}", "LastName": f"Last{n}", **details}}


def member(n: int, group: str, **attributes: Any) -> dict[str, Any]:
    return {**contact(n), "Groups": [{"GroupId": group, "Role": "Member", **attributes}]}


@pytest.fixture
def push(client: Any, tenant: Any) -> Callable[..., dict[str, Any]]:
    def send(records: list[Any], path: str = CONTACTS, params: Any = None) -> dict[str, Any]:
        response = client.post(path, json=records, params=params, headers=tenant.headers)
        assert response.status_code in (200, 400), response.text
        return dict(response.json())

    return send


@pytest.fixture
def feed(client: Any, tenant: Any) -> Callable[..., httpx.Response]:
    def read(**params: Any) -> httpx.Response:
        return client.get("/v2/changes", params=params, headers={"ApiKey": tenant.api_key})

    return read


def events(feed: Callable[..., httpx.Response], **params: Any) -> list[dict[str, Any]]:
    """Every event the feed lists after `after`, following nextCursor."""
    found: list[dict[str, Any]] = []
    while True:
        response = feed(**params)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["items"]
        if body["nextCursor"] is None:
            return found
        params["after"] = body["nextCursor"]


def brief(found: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(e["seq"], e["type"], e["id"]) for e in found]


def test_each_change_is_an_event_in_array_order_and_unchanged_is_none(push, feed):
    first = push([member(1, "G1", GroupName="One"), contact(2), contact(3)])
    assert brief(events(feed)) == [
        (1, "contact.created", "C1"),
        (2, "contact.created", "C2"),
        (3, "contact.created", "C3"),
        (4, "group.created", "G1"),
    ]
    assert {e["requestId"] for e in events(feed)} == {first["requestId"]}
    second = push([
        contact(3),  # unchanged
        contact(2, FirstName="Bo"),
        {"ContactDetails": {"ContactId": "C1", "IsDeleted": True}},
        {"ContactDetails": {"ContactId": "C9", "IsDeleted": True}},  # unknown: unchanged
        contact(4), contact(4, FirstName="Twice"),
    ])  # fmt: skip
    assert brief(events(feed, after=4)) == [
        (5, "contact.updated", "C2"),
        (6, "contact.deleted", "C1"),
        (7, "contact.created", "C4"),
        (8, "contact.updated", "C4"),
    ]
    later = events(feed, after=4)
    assert {e["requestId"] for e in later} == {second["requestId"]}
    assert all(e["at"].endswith("Z") and len(e["at"]) == 24 for e in later)
    push([contact(1)])  # a restore is an update
    assert brief(events(feed, after=8)) == [(9, "contact.updated", "C1")]
    push([contact(1), contact(2, FirstName="Bo")])  # nothing changes: no event
    assert events(feed, after=9) == []


def test_a_group_renamed_alone_emits_only_group_updated(push, feed):
    push([member(1, "G1", GroupName="One"), member(2, "G1")])
    answer = push([member(1, "G1", GroupName="Renamed"), member(2, "G1")])
    assert (answer["unchanged"], answer["updated"]) == (2, 0)
    assert brief(events(feed, after=3)) == [(4, "group.updated", "G1")]


def test_lists_meetings_and_products_have_their_events(push, feed):
    push(
        [{"ListId": "L1", "ListName": "Board", "ContactIds": ["C1"], "Mode": "Replace"}], "/v2/list"
    )
    push([{"ListId": "L1", "ListName": "Board", "ContactIds": ["C1"], "Mode": "Add"}], "/v2/list")
    push([{"ListId": "L1", "ListName": "Board", "ContactIds": ["C2"], "Mode": "Add"}], "/v2/list")
    meeting = {"MeetingId": "M1", "Title": "AGM", "BeginDate": "2027-01-01"}
    push([meeting], "/v2/meeting")
    push([{**meeting, "Title": "Annual meeting"}], "/v2/meeting")
    push([{"MeetingId": "M1", "IsDeleted": True}], "/v2/meeting")
    push([{"ProductId": "P1", "ProductName": "Dues", "Price": 10}], "/v2/product")
    assert [e["type"] for e in events(feed)] == [
        "list.created",
        "list.updated",
        "meeting.created",
        "meeting.updated",
        "meeting.deleted",
        "product.created",
    ]
    assert [e["seq"] for e in events(feed)] == list(range(1, 7))


def test_dry_runs_refused_pushes_and_left_out_records_append_nothing(push, feed):
    push([contact(1)], params={"dryRun": "true"})
    push([contact(1), {"ContactDetails": {"ContactId": "C2", "Age": "old"}}])  # 400
    assert events(feed) == []
    push([contact(3), {"ContactDetails": {"ContactId": "C4", "Age": "old"}}],
         params={"onError": "skip"})  # fmt: skip
    assert brief(events(feed)) == [(1, "contact.created", "C3")]


def test_seq_is_per_tenant(client, make_tenant):
    one, two = make_tenant(), make_tenant()
    for tenant, n in ((one, 3), (two, 2), (one, 1)):
        records = [contact(i) for i in range(n)]
        response = client.post(CONTACTS, json=records, headers=tenant.headers)
        assert response.status_code == 200
        records = [contact(i, FirstName="x") for i in range(n)]
        client.post(CONTACTS, json=records, headers=tenant.headers)
    seqs = {}
    for tenant in (one, two):
        found = client.get("/v2/changes", params={"limit": 1000}, headers=tenant.headers).json()
        seqs[tenant.code] = [e["seq"] for e in found["items"]]
    assert seqs[one.code] == list(range(1, 3 + 3 + 1 + 1 + 1))  # 3+3 then C0 x unchanged
    assert seqs[two.code] == list(range(1, 5))


def test_pages_follow_next_cursor_and_types_filter(push, feed):
    push([contact(n) for n in range(250)])
    push([member(n, f"G{n}") for n in range(3)])  # 3 updates, 3 groups
    page = feed(limit=100).json()
    assert [e["seq"] for e in page["items"]] == list(range(1, 101))
    assert page["nextCursor"] == "100"
    assert feed(after=250, limit=6).json()["nextCursor"] is None  # the last 6 exactly
    groups = feed(types="group.created", limit=2).json()
    assert [e["id"] for e in groups["items"]] == ["G0", "G1"]
    assert groups["nextCursor"] == str(groups["items"][-1]["seq"])
    rest = feed(types="group.created", after=groups["nextCursor"]).json()
    assert ([e["id"] for e in rest["items"]], rest["nextCursor"]) == (["G2"], None)
    both = events(feed, types="group.created,contact.updated", limit=4)
    assert len(both) == 6
    assert feed(after=10_000).json() == {"items": [], "nextCursor": None}


def test_a_push_of_more_events_than_a_row_holds_reads_back_whole(push, feed):
    push([contact(n) for n in range(CHANGES_PER_ROW * 2 + 5)])
    found = events(feed, limit=1000)
    assert [e["seq"] for e in found] == list(range(1, CHANGES_PER_ROW * 2 + 6))
    assert found[CHANGES_PER_ROW]["id"] == f"C{CHANGES_PER_ROW}"
    middle = feed(after=CHANGES_PER_ROW - 3, limit=5).json()["items"]
    assert [e["seq"] for e in middle] == list(range(CHANGES_PER_ROW - 2, CHANGES_PER_ROW + 3))


@pytest.mark.parametrize(
    "params",
    [{"after": -1}, {"after": "x"}, {"limit": 0}, {"limit": 1001}, {"types": "contact.made"},
     {"types": ""}, {"types": "contact.created,"}],
)  # fmt: skip
def test_bad_parameters_are_400(feed, params):
    response = feed(**params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_parameter"


def test_the_feed_needs_a_key(client):
    assert client.get("/v2/changes").status_code == 401


def test_pruned_events_answer_410_with_where_to_resume(push, feed, engine, tenant):
    push([contact(n) for n in range(5)])
    push([contact(n, FirstName="y") for n in range(5)])
    with engine.begin() as conn:
        conn.execute(
            update(change_events)
            .where(change_events.c.tenant_id == tenant.tenant_id, change_events.c.first_seq == 1)
            .values(at=datetime.now(UTC) - timedelta(days=31))
        )
    assert prune_changes(engine, 0) == 0  # 0 keeps everything
    assert prune_changes(engine, 30) >= 1
    gone = feed(after=0)
    assert gone.status_code == 410, gone.text
    assert gone.json()["error"] == "cursor_expired"
    assert "after=5" in gone.json()["message"]
    assert feed(after=3).status_code == 410
    assert [e["seq"] for e in feed(after=5).json()["items"]] == [6, 7, 8, 9, 10]


def test_every_type_is_known_to_the_openapi_document(client):
    document = client.get("/openapi.json").json()
    parameters = document["paths"]["/v2/changes"]["get"]["parameters"]
    (types,) = [p for p in parameters if p["name"] == "types"]
    for name in EVENT_TYPES:
        assert name.replace(".", "\\.") in types["schema"]["pattern"]


# -- 8 clients at once, through a real server ----------------------------------------------


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = launch_server(
        ["--database-url", database_url, "--workers", "2"],
        tmp_path_factory.mktemp("feed") / "server.log",
        env=dict(os.environ),
    )
    yield process
    process.stop()


def test_eight_clients_pushing_overlapping_records_leave_a_gapless_feed_of_every_change(
    server, tenant
):
    """Every push's changes are in the feed exactly once, consecutively, seq without gaps; and
    applying the feed in order gives the live set of contacts the read API shows."""
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=server.base_url, headers=tenant.headers, timeout=120) as http:
            for _ in range(12):
                ids = rng.sample(range(40), 15)
                records = [
                    {"ContactDetails": {"ContactId": f"C{i}", "IsDeleted": True}}
                    if rng.random() < 0.2
                    else contact(i, FirstName=rng.choice(["A", "B", "C"]))
                    for i in ids
                ]
                response = http.post(CONTACTS, content=json.dumps(records))
                assert response.status_code == 200, response.text
                with lock:
                    answers.append(response.json())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(answers) == 96
    with httpx.Client(base_url=server.base_url, headers=tenant.headers, timeout=60) as http:
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            body = http.get("/v2/changes", params={"after": after, "limit": 1000}).json()
            found += body["items"]
            if body["nextCursor"] is None:
                break
            after = int(body["nextCursor"])
        live = {c["ContactDetails"]["ContactId"] for c in _all_contacts(http)}
    assert [e["seq"] for e in found] == list(range(1, len(found) + 1))
    changed = sum(a["created"] + a["updated"] + a["deleted"] for a in answers)
    assert len(found) == changed
    by_request: dict[str, list[int]] = {}
    for event in found:
        by_request.setdefault(event["requestId"], []).append(event["seq"])
    for answer in answers:
        seqs = by_request.get(answer["requestId"], [])
        assert len(seqs) == answer["created"] + answer["updated"] + answer["deleted"]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True
    state: dict[str, bool] = {}
    for event in found:
        state[event["id"]] = event["type"] != "contact.deleted"
    assert {key for key, alive in state.items() if alive} == live


def _all_contacts(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = http.get("/v2/contacts", params=params).json()
        found += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return found
