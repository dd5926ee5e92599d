"""The push log (SPEC 6): GET /v2/pushes and /v2/pushes/{requestId} record every push answer
of a tenant, accepted or rejected, without its payload."""

import base64
import dataclasses
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

import pushapi.routes.push
import pushapi.store.contacts
from pushapi.request_ids import first_request_id_at
from pushapi.store.engine import write_transaction
from pushapi.store.pushlog import LoggedPush, push_log_row, write_push_log
from pushapi.store.retention import Pruner, prune_push_log
from pushapi.store.tables import push_log
from pushapi.store.tenants import revoke_key

PUSH = "/v2/contactinfo"
UTC_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DISTINCTIVE = "Quixotelinde"  # a contact value that must never reach the log


def contact(contact_id: str, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Logged", **details}}


def log_entry(client, tenant, request_id: str) -> dict[str, Any]:
    response = client.get(f"/v2/pushes/{request_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    entry: dict[str, Any] = response.json()
    return entry


def test_accepted_push_is_logged_with_key_time_status_counts_warnings_and_duration(client, tenant):
    client.post(PUSH, json=[contact("a"), contact("b")], headers=tenant.headers)
    records = [
        contact("a", FirstName="Changed"),  # updated
        contact("b"),  # unchanged
        contact("c", Nickname="Typo"),  # created, unknown property warning
        {"ContactDetails": {"ContactId": "b", "IsDeleted": True}},  # deleted, duplicate warning
    ]
    started = datetime.now(UTC)
    response = client.post(PUSH, json=records, headers=tenant.headers)
    finished = datetime.now(UTC)
    assert response.status_code == 200, response.text
    answer = response.json()
    entry = log_entry(client, tenant, answer["requestId"])
    assert entry["requestId"] == answer["requestId"]
    assert entry["endpoint"] == "contactinfo"
    assert entry["keyId"] == tenant.key_id
    assert entry["status"] == 200
    assert entry["error"] is None
    assert UTC_MILLIS.fullmatch(entry["receivedAt"])
    received_at = datetime.fromisoformat(entry["receivedAt"].replace("Z", "+00:00"))
    assert started - timedelta(milliseconds=1) <= received_at <= finished
    for count in ("received", "created", "updated", "deleted", "unchanged"):
        assert entry[count] == answer[count], count
    assert (entry["received"], entry["created"], entry["updated"]) == (4, 1, 1)
    assert len(answer["warnings"]) >= 2
    assert entry["warnings"] == answer["warnings"]
    assert entry["warningCount"] == len(answer["warnings"])
    assert (entry["errors"], entry["errorCount"]) == ([], 0)
    elapsed_ms = (finished - started).total_seconds() * 1000
    assert isinstance(entry["durationMs"], int | float) and 0 < entry["durationMs"] <= elapsed_ms


def _not_json(s: "Pushes") -> Any:
    return s.client.post(PUSH, content=b"[{", headers=s.tenant.headers)


def _invalid_records(s: "Pushes") -> Any:
    records = [contact("ok"), contact("bad", Birthday="yesterday", Age="x"), {"ContactDetails": {}}]
    return s.client.post(PUSH, json=records, headers=s.tenant.headers)


def _body_too_large(s: "Pushes") -> Any:
    small = s.make_client(max_body_bytes=20)
    return small.post(PUSH, json=[contact("x")], headers=s.tenant.headers)


def _too_many_records(s: "Pushes") -> Any:
    small = s.make_client(max_records=2)
    return small.post(
        PUSH, json=[contact("x"), contact("y"), contact("z")], headers=s.tenant.headers
    )


def _wrong_content_type(s: "Pushes") -> Any:
    headers = {**s.tenant.headers, "Content-Type": "text/plain"}
    return s.client.post(PUSH, content=b"[]", headers=headers)


def _rate_limited(s: "Pushes") -> Any:
    limited = s.make_client(rate_limit_per_minute=1)
    limited.post(PUSH, json=[], headers=s.tenant.headers)
    return limited.post(PUSH, json=[contact("x")], headers=s.tenant.headers)


def _not_on_platform(s: "Pushes") -> Any:
    # No ContactInfo push is refused by platform today; restrict the endpoint to provoke one.
    endpoints = tuple(
        dataclasses.replace(e, platforms=("marketing-pro",)) if e.name == "contactinfo" else e
        for e in pushapi.routes.push.PUSH_ENDPOINTS
    )
    s.monkeypatch.setattr(pushapi.routes.push, "PUSH_ENDPOINTS", endpoints)
    return s.make_client().post(PUSH, json=[contact("x")], headers=s.tenant.headers)


def _internal_failure(s: "Pushes") -> Any:
    def fail(*args: object) -> None:
        raise RuntimeError("apply failed")

    s.monkeypatch.setattr(pushapi.store.contacts, "apply_group_attributes", fail)
    return s.client.post(PUSH, json=[contact("x"), contact("y")], headers=s.tenant.headers)


@dataclasses.dataclass
class Pushes:
    client: Any
    make_client: Any
    tenant: Any
    monkeypatch: pytest.MonkeyPatch


REJECTIONS = {
    "invalid_body": (_not_json, 400, 0),
    "validation_failed": (_invalid_records, 400, 3),
    "body_too_large": (_body_too_large, 413, 0),
    "too_many_records": (_too_many_records, 413, 0),
    "unsupported_media_type": (_wrong_content_type, 415, 0),
    "rate_limited": (_rate_limited, 429, 0),
    "not_supported_for_platform": (_not_on_platform, 403, 0),
    "internal_error": (_internal_failure, 500, 2),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_rejected_push_is_logged_with_status_error_and_message(
    client, make_client, tenant, monkeypatch, case
):
    provoke, status, received = REJECTIONS[case]
    response = provoke(Pushes(client, make_client, tenant, monkeypatch))
    assert response.status_code == status, response.text
    answer = response.json()
    entry = log_entry(client, tenant, answer["requestId"])
    assert (entry["status"], entry["endpoint"], entry["keyId"]) == (
        status,
        "contactinfo",
        tenant.key_id,
    )
    assert entry["error"] == answer["error"]
    if status != 500:
        assert entry["message"] == answer["message"]
    assert entry["received"] == received
    counts = (entry["created"], entry["updated"], entry["deleted"], entry["unchanged"])
    assert counts == (0, 0, 0, 0)
    assert entry["errors"] == answer.get("errors", [])
    assert entry["errorCount"] == len(answer.get("errors", []))
    assert UTC_MILLIS.fullmatch(entry["receivedAt"])
    assert entry["durationMs"] >= 0
    listed = client.get("/v2/pushes", headers=tenant.headers).json()["items"]
    assert listed[0]["requestId"] == answer["requestId"]


def test_unauthorized_and_misdirected_pushes_are_not_in_the_tenant_log(
    client, make_client, tenant, make_tenant, engine
):
    canadian = make_tenant(region="ca")
    assert client.post(PUSH, json=[], headers=canadian.headers).status_code == 421
    canadian_log = make_client(region="ca").get("/v2/pushes", headers=canadian.headers)
    assert canadian_log.json()["items"] == []
    revoked = {**tenant.headers}
    revoke_key(engine, tenant.code, tenant.key_id)
    assert client.post(PUSH, json=[], headers=revoked).status_code == 401
    with engine.connect() as conn:
        rows = conn.execute(select(push_log).where(push_log.c.tenant_id == tenant.tenant_id)).all()
    assert rows == []


def test_log_keeps_100_errors_while_the_response_has_all(client, tenant):
    records = [contact(f"c{i}", Age="not a number") for i in range(150)]
    response = client.post(PUSH, json=records, headers=tenant.headers)
    errors = response.json()["errors"]
    assert len(errors) == 150
    entry = log_entry(client, tenant, response.json()["requestId"])
    assert entry["errorCount"] == 150
    assert entry["errors"] == errors[:100]


def test_log_keeps_100_warnings_while_the_response_has_all(client, tenant):
    records = [contact(f"c{i}", Nickname="unknown property") for i in range(150)]
    response = client.post(PUSH, json=records, headers=tenant.headers)
    warnings = response.json()["warnings"]
    assert len(warnings) == 150
    entry = log_entry(client, tenant, response.json()["requestId"])
    assert entry["warningCount"] == 150
    assert entry["warnings"] == warnings[:100]


def test_push_log_is_newest_first_and_pages_with_limit_and_cursor(client, tenant):
    pushed = []
    for body in (b"[]", b"{", b"[]", b'[{"ContactDetails": {}}]', b"[]"):
        pushed.append(client.post(PUSH, content=body, headers=tenant.headers).json()["requestId"])
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = client.get("/v2/pushes", params=params, headers=tenant.headers).json()
        assert set(page) == {"items", "nextCursor"}
        assert len(page["items"]) <= 2
        seen += [item["requestId"] for item in page["items"]]
        cursor, pages = page["nextCursor"], pages + 1
        if cursor is None:
            break
    assert seen == list(reversed(pushed))
    assert pages == 3
    everything = client.get("/v2/pushes", headers=tenant.headers).json()
    assert [item["requestId"] for item in everything["items"]] == list(reversed(pushed))
    assert everything["nextCursor"] is None


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"cursor": "not a cursor!"}, id="not-base64"),
        pytest.param({"cursor": "%%%"}, id="percent-signs"),
        pytest.param({"cursor": _cursor({"position": "x"})}, id="object-cursor"),
        pytest.param({"cursor": _cursor("z")}, id="string-cursor"),
        pytest.param({"cursor": _cursor([1])}, id="number-position"),
        pytest.param({"cursor": _cursor(["a", "b"])}, id="two-positions"),
        pytest.param({"limit": "0"}, id="limit-0"),
        pytest.param({"limit": "1001"}, id="limit-1001"),
        pytest.param({"limit": "ten"}, id="limit-not-a-number"),
    ],
)
def test_bad_listing_parameter_is_400_invalid_parameter(client, tenant, params):
    response = client.get("/v2/pushes", params=params, headers=tenant.headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["requestId"] == response.headers["x-request-id"]


def test_another_tenants_push_is_404_and_not_listed(client, make_tenant):
    owner, stranger = make_tenant(), make_tenant()
    request_id = client.post(PUSH, json=[contact("a")], headers=owner.headers).json()["requestId"]
    response = client.get(f"/v2/pushes/{request_id}", headers=stranger.headers)
    assert response.status_code == 404
    assert set(response.json()) == {"error", "message", "requestId"}
    assert response.json()["error"] == "not_found"
    assert client.get("/v2/pushes", headers=stranger.headers).json()["items"] == []
    assert client.get(f"/v2/pushes/{request_id}", headers=owner.headers).status_code == 200


def test_unknown_push_id_is_404(client, tenant):
    response = client.get("/v2/pushes/01zzzzzzzzzzzzzzzzzzzzzzzz", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_push_log_requires_an_api_key(client):
    assert client.get("/v2/pushes").status_code == 401


def test_payload_is_not_kept_in_the_log(client, tenant, engine, monkeypatch):
    valuable = {
        "ContactDetails": {
            "ContactId": "p1",
            "FirstName": DISTINCTIVE,
            "Bio": f"{DISTINCTIVE} bio",
        },
        "Addresses": [{"City": f"{DISTINCTIVE}ville"}],
        "EmailAddresses": [{"EmailAddress": f"{DISTINCTIVE.lower()}@example.org"}],
    }
    accepted = client.post(PUSH, json=[valuable], headers=tenant.headers)
    assert accepted.status_code == 200
    rejected = client.post(PUSH, json=[valuable, {"ContactDetails": {}}], headers=tenant.headers)
    assert rejected.status_code == 400

    def fail(*args: object) -> None:
        raise RuntimeError("apply failed")

    monkeypatch.setattr(pushapi.store.contacts, "apply_group_attributes", fail)
    changed = {**valuable, "ContactDetails": {**valuable["ContactDetails"], "Title": "Dr"}}
    assert client.post(PUSH, json=[changed], headers=tenant.headers).status_code == 500
    client.app.state.writer.flush()  # refusals are written off the request
    with engine.connect() as conn:
        rows = conn.execute(select(push_log).where(push_log.c.tenant_id == tenant.tenant_id)).all()
    assert len(rows) == 3
    stored = repr([tuple(row) for row in rows])
    listed = client.get("/v2/pushes", headers=tenant.headers).text
    for text in (stored, listed):
        assert DISTINCTIVE not in text
        assert DISTINCTIVE.lower() not in text


# -- retention (PUSHAPI_PUSHLOG_RETENTION_DAYS) ------------------------------------------------


def old_entry(days_ago: int, n: int) -> LoggedPush:
    """A push-log entry of `days_ago` days ago, with the request id it was given then."""
    moment = datetime.now(UTC) - timedelta(days=days_ago)
    millis = int(moment.timestamp() * 1000)
    request_id = first_request_id_at(millis)[:-4] + f"{n:04d}"
    return LoggedPush(request_id, "contactinfo", None, moment, 200, 1.0)


def logged_ids(engine: Any, tenant_id: int) -> set[str]:
    with engine.connect() as conn:
        query = select(push_log.c.request_id).where(push_log.c.tenant_id == tenant_id)
        return set(conn.execute(query).scalars())


def test_entries_older_than_the_retention_are_pruned_and_the_others_kept(engine, tenant, client):
    old = [old_entry(100, n) for n in range(2500)]  # more than one batch
    recent = [old_entry(10, n) for n in range(3)]
    with engine.begin() as conn:
        write_push_log(conn, [push_log_row(tenant.tenant_id, e) for e in old + recent])
    assert client.post(PUSH, json=[contact("now")], headers=tenant.headers).status_code == 200
    kept = logged_ids(engine, tenant.tenant_id) - {e.request_id for e in old}
    assert prune_push_log(engine, 0) == 0  # 0 keeps everything
    assert prune_push_log(engine, 90) >= 2500
    assert logged_ids(engine, tenant.tenant_id) == kept
    assert len(kept) == 4


def test_a_running_server_prunes_on_its_own(engine, tenant):
    with engine.begin() as conn:
        write_push_log(conn, [push_log_row(tenant.tenant_id, old_entry(100, 1))])
    pruner = Pruner(engine, 90, first_after=0)
    pruner.start()
    try:
        deadline = time.monotonic() + 20
        while logged_ids(engine, tenant.tenant_id):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        pruner.stop()


def test_pruning_does_not_wait_for_a_push_in_progress(engine, engine_name, tenant):
    """A push holds its tenant's lock for as long as it runs; pruning takes no such lock."""
    if engine_name != "postgresql":
        pytest.skip("SQLite has one write lock for all, held by a push for its duration")
    with engine.begin() as conn:
        write_push_log(conn, [push_log_row(tenant.tenant_id, old_entry(100, 1))])
    # A push of the tenant in progress, and pruning beside it.
    with write_transaction(engine, tenant.tenant_id), ThreadPoolExecutor(1) as pool:
        pruned = pool.submit(prune_push_log, engine, 90).result(timeout=20)
    assert pruned >= 1
