"""The HTTP contract of `/v2/contactinfo` (SPEC 3): every status of the table, request ids,
atomicity and counts, on every engine."""

import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy.exc

import pushapi.auth
import pushapi.store.contacts
from pushapi.config import Settings
from pushapi.store.tenants import create_key, revoke_key

PUSH = "/v2/contactinfo"
WELL_FORMED_UNKNOWN_KEY = "pk_0123456789ab_" + "A" * 32


def contact(contact_id: str, **details: Any) -> dict[str, Any]:
    """A ContactInfo record; an individual named after its id unless told otherwise."""
    fields = {"ContactId": contact_id, "LastName": f"Name of {contact_id}", **details}
    return {"ContactDetails": fields}


def deletion(contact_id: str) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "IsDeleted": True}}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the one error body carrying `code`; return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def seed(client, tenant) -> None:
    """Contacts a later push can update (a), delete (b), leave unchanged (c) and restore (e)."""
    records = [contact("a"), contact("b"), contact("c"), contact("e")]
    assert client.post(PUSH, json=records, headers=tenant.headers).status_code == 200
    assert client.post(PUSH, json=[deletion("e")], headers=tenant.headers).json()["deleted"] == 1


# -- 401 -------------------------------------------------------------------------------------


def test_push_without_api_key_is_401(client, tenant, snapshot):
    before = snapshot(tenant)
    headers = {"Content-Type": "application/json"}
    response = client.post(PUSH, json=[contact("x")], headers=headers)
    assert_error(response, 401, "unauthorized")
    assert snapshot(tenant) == before


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda key: WELL_FORMED_UNKNOWN_KEY, id="unknown"),
        pytest.param(lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"), id="wrong-secret"),
        pytest.param(lambda key: key + "x", id="too-long"),
        pytest.param(lambda key: key[:-4], id="too-short"),
        pytest.param(lambda key: key.upper(), id="upper-case"),
        pytest.param(lambda key: "not-a-key", id="garbage"),
        pytest.param(lambda key: "", id="empty"),
        pytest.param(lambda key: f"Bearer {key}", id="with-scheme"),
        pytest.param(lambda key: key.split("_")[1], id="key-id-only"),
    ],
)
def test_push_with_unknown_or_malformed_api_key_is_401(client, tenant, snapshot, make_key):
    before = snapshot(tenant)
    headers = {**tenant.headers, "ApiKey": make_key(tenant.api_key)}
    body = assert_error(
        client.post(PUSH, json=[contact("x")], headers=headers), 401, "unauthorized"
    )
    assert tenant.api_key not in json.dumps(body)
    assert snapshot(tenant) == before


def test_revoked_key_is_401_while_second_live_key_of_tenant_works(client, tenant, engine):
    second = create_key(engine, tenant.code)
    assert client.post(PUSH, json=[contact("a")], headers=tenant.headers).status_code == 200
    revoke_key(engine, tenant.code, tenant.key_id)
    response = client.post(PUSH, json=[contact("b")], headers=tenant.headers)
    assert_error(response, 401, "unauthorized")
    live = {**tenant.headers, "ApiKey": second.api_key}
    response = client.post(PUSH, json=[contact("b")], headers=live)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


@pytest.mark.parametrize("records", [1, 30], ids=["small push", "large push"])
def test_a_key_revoked_while_the_server_remembers_it_changes_nothing(
    client, tenant, engine, snapshot, monkeypatch, records
):
    # A push's caller is remembered by the process (auth.py); its transaction checks the key.
    looked_up = []
    authenticate = pushapi.auth.authenticate
    monkeypatch.setattr(
        pushapi.auth, "authenticate", lambda *a: looked_up.append(1) or authenticate(*a)
    )
    for n in range(2):
        response = client.post(PUSH, json=[contact(f"first{n}")], headers=tenant.headers)
        assert response.status_code == 200, response.text
    assert len(looked_up) == 1  # the second push took the caller found for the first
    revoke_key(engine, tenant.code, tenant.key_id)
    before = snapshot(tenant)
    body = [contact(f"c{n}") for n in range(records)]
    assert_error(client.post(PUSH, json=body, headers=tenant.headers), 401, "unauthorized")
    client.app.state.writer.flush()  # (refusals are logged off the request)
    assert snapshot(tenant) == before
    assert len(looked_up) == 1
    # Reads look the key up on every request.
    assert_error(client.get("/v2/pushes", headers=tenant.headers), 401, "unauthorized")
    # No caller, so no push-log entry for the refused push.
    other_key = {"ApiKey": create_key(engine, tenant.code).api_key}
    logged = client.get("/v2/pushes", headers=other_key).json()["items"]
    assert [entry["received"] for entry in logged] == [1, 1]


def test_key_created_while_app_runs_works_at_once(client, tenant, engine):
    assert client.get("/v2/pushes", headers=tenant.headers).status_code == 200  # app is running
    new_key = create_key(engine, tenant.code)
    headers = {**tenant.headers, "ApiKey": new_key.api_key}
    response = client.post(PUSH, json=[contact("a")], headers=headers)
    assert response.status_code == 200, response.text


def test_key_rotation_takes_effect_at_once_on_a_running_server(start_server, tenant, engine):
    server = start_server()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        new_key = create_key(engine, tenant.code)
        rotated = {**tenant.headers, "ApiKey": new_key.api_key}
        assert http.post(PUSH, json=[contact("a")], headers=rotated).status_code == 200
        assert http.post(PUSH, json=[contact("b")], headers=tenant.headers).status_code == 200
        revoke_key(engine, tenant.code, tenant.key_id)
        assert_error(
            http.post(PUSH, json=[contact("c")], headers=tenant.headers), 401, "unauthorized"
        )
        assert http.post(PUSH, json=[contact("c")], headers=rotated).status_code == 200


def test_missing_key_is_401_before_content_type_and_body_are_looked_at(client):
    response = client.post(PUSH, content=b"not json", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "unauthorized")


# -- 415 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonl",
        "application/json-patch+json",
        "",
        None,
    ],
)
def test_push_with_wrong_or_missing_content_type_is_415(client, tenant, snapshot, content_type):
    before = snapshot(tenant)
    headers = {"ApiKey": tenant.api_key}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = json.dumps([contact("x")]).encode()
    assert_error(client.post(PUSH, content=body, headers=headers), 415, "unsupported_media_type")
    assert snapshot(tenant) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "text/json",
        "text/json; charset=utf-8",
        "Application/JSON",
    ],
)
def test_push_with_json_content_type_is_accepted(client, tenant, content_type):
    headers = {"ApiKey": tenant.api_key, "Content-Type": content_type}
    body = json.dumps([contact("x")]).encode()
    response = client.post(PUSH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


# -- 413 -------------------------------------------------------------------------------------


def body_of_size(size: int) -> bytes:
    """A valid one-contact body padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps([contact("sized")]).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"]"


def test_body_over_max_body_bytes_with_content_length_is_413(make_client, tenant, snapshot):
    small = make_client(max_body_bytes=300)
    before = snapshot(tenant)
    response = small.post(PUSH, content=body_of_size(301), headers=tenant.headers)
    assert response.request.headers["content-length"] == "301"
    assert_error(response, 413, "payload_too_large")
    assert snapshot(tenant) == before


def test_body_of_exactly_max_body_bytes_is_accepted(make_client, tenant):
    small = make_client(max_body_bytes=300)
    response = small.post(PUSH, content=body_of_size(300), headers=tenant.headers)
    assert response.status_code == 200, response.text


def test_streamed_body_over_max_body_bytes_is_413(make_client, tenant, snapshot):
    small = make_client(max_body_bytes=300)
    body = body_of_size(1000)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    before = snapshot(tenant)
    response = small.post(PUSH, content=chunks(), headers=tenant.headers)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert snapshot(tenant) == before


def test_more_records_than_max_records_is_413(make_client, tenant, snapshot):
    small = make_client(max_records=3)
    before = snapshot(tenant)
    records = [contact(f"c{i}") for i in range(4)]
    assert_error(small.post(PUSH, json=records, headers=tenant.headers), 413, "payload_too_large")
    assert snapshot(tenant) == before
    response = small.post(PUSH, json=records[:3], headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 3


# -- 400 invalid_body ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'[{"ContactDetails": {"ContactId": "x", "LastName": "y"}}', id="truncated"),
        pytest.param(b'{"ContactDetails": {"ContactId": "x", "LastName": "y"}}', id="object"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(
            b'[{"ContactDetails": {"ContactId": "x", "LastName": "y"}}, 1]', id="number-in"
        ),
        pytest.param(
            b'[{"ContactDetails": {"ContactId": "x", "LastName": "y"}}, "s"]', id="str-in"
        ),
        pytest.param(b"[null]", id="null-in-array"),
        pytest.param(b"[[]]", id="array-in-array"),
        pytest.param(
            b'[{"ContactDetails": {"ContactId": "x", "LastName": "\xe9t\xe9"}}]', id="invalid-utf8"
        ),
        pytest.param(b'[{"ContactDetails": {"ContactId": "x", "Age": NaN}}]', id="nan"),
        pytest.param(b'[{"ContactDetails": {"ContactId": "x", "Age": Infinity}}]', id="infinity"),
        pytest.param(b'[{"ContactDetails": {"ContactId": "x", "Age": -Infinity}}]', id="-infinity"),
    ],
)
def test_body_not_a_json_array_of_objects_is_400_invalid_body(client, tenant, snapshot, body):
    before = snapshot(tenant)
    response = client.post(PUSH, content=body, headers=tenant.headers)
    assert_error(response, 400, "invalid_body")
    assert "errors" not in response.json()
    assert snapshot(tenant) == before


# -- 400 validation_failed -------------------------------------------------------------------


def test_invalid_records_are_400_listing_every_error_with_index_and_path(client, tenant, snapshot):
    records = [
        contact("ok-1"),
        {
            "ContactDetails": {
                "ContactId": "bad-1",
                "FirstName": 42,
                "Birthday": "31/12/1990",
                "Age": "old",
            },
            "Addresses": [{"City": "Springfield"}, {"Latitude": 91}],
            "EmailAddresses": [{"EmailType": "work"}],
        },
        {"Groups": [{"GroupName": "Without an id"}]},
        {
            "ContactDetails": {"ContactId": "bad-3"},
            "Orders": [{"OrderId": "o1", "Quantity": -1}],
            "Education": [{"Degree": "BSc", "StartDate": "2020-01-01", "EndDate": "soon"}],
        },
        {"ContactDetails": {"ContactId": "bad-4", "IsOrganization": True, "FirstName": "Bo"}},
        {"ContactDetails": {"ContactId": "   ", "LastName": "Blank id"}},
        contact("ok-2"),
        contact("bad-6", IsDeleted="maybe"),
    ]
    expected = {
        (1, "ContactDetails.FirstName"),
        (1, "ContactDetails.Birthday"),
        (1, "ContactDetails.Age"),
        (1, "Addresses[1].Latitude"),
        (1, "EmailAddresses[0].EmailAddress"),
        (2, "ContactDetails"),
        (2, "Groups[0].GroupId"),
        (3, "ContactDetails.FirstName"),
        (3, "Orders[0].ProductId"),
        (3, "Orders[0].Quantity"),
        (3, "Education[0].InstitutionName"),
        (3, "Education[0].EndDate"),
        (4, "ContactDetails.OrganizationName"),
        (5, "ContactDetails.ContactId"),
        (7, "ContactDetails.IsDeleted"),
    }
    before = snapshot(tenant)
    response = client.post(PUSH, json=records, headers=tenant.headers)
    body = assert_error(response, 400, "validation_failed")
    assert set(body) == {"error", "message", "requestId", "errors", "warnings"}
    found = [(error["index"], error["path"]) for error in body["errors"]]
    assert sorted(found) == sorted(expected)
    assert all(set(e) == {"index", "path", "message"} and e["message"] for e in body["errors"])
    assert snapshot(tenant) == before


# -- 421 -------------------------------------------------------------------------------------


def test_tenant_of_another_region_is_421_naming_its_region(client, make_tenant, snapshot):
    canadian = make_tenant(region="ca")
    before = snapshot(canadian)
    response = client.post(PUSH, json=[contact("x")], headers=canadian.headers)
    body = assert_error(response, 421, "wrong_region")
    assert re.search(r"\bca\b", body["message"]), body
    assert snapshot(canadian) == before


def test_server_of_region_ca_accepts_ca_tenant_and_refuses_us_tenant(make_client, make_tenant):
    canadian_server = make_client(region="ca")
    canadian, american = make_tenant(region="ca"), make_tenant(region="us")
    response = canadian_server.post(PUSH, json=[contact("x")], headers=canadian.headers)
    assert response.status_code == 200, response.text
    response = canadian_server.post(PUSH, json=[contact("x")], headers=american.headers)
    assert re.search(r"\bus\b", assert_error(response, 421, "wrong_region")["message"])


# -- 429 -------------------------------------------------------------------------------------


def test_pushes_over_the_rate_limit_are_429_with_retry_after(make_client, make_tenant, snapshot):
    limited = make_client(rate_limit_per_minute=2)
    tenant, other = make_tenant(), make_tenant()
    for name in ("a", "b"):
        assert limited.post(PUSH, json=[contact(name)], headers=tenant.headers).status_code == 200
    before = snapshot(tenant)
    response = limited.post(PUSH, json=[contact("c")], headers=tenant.headers)
    assert_error(response, 429, "rate_limited")
    # At most two pushes in any minute: the next one is allowed once the first is a minute old.
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert response.headers["ratelimit-limit"] == "2"
    assert response.headers["ratelimit-remaining"] == "0"
    assert abs(int(response.headers["ratelimit-reset"]) - retry_after) <= 1
    assert snapshot(tenant) == before
    # The limit is per tenant.
    assert limited.post(PUSH, json=[contact("c")], headers=other.headers).status_code == 200


def test_without_rate_limit_configured_pushes_are_not_limited(client, tenant):
    statuses = {client.post(PUSH, json=[], headers=tenant.headers).status_code for _ in range(12)}
    assert statuses == {200}


# -- 405 and 404 -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_push_endpoint_are_405_with_error_shape(client, tenant, method):
    response = client.request(method, PUSH, headers=tenant.headers, content=b"[]")
    body = assert_error(response, 405, "method_not_allowed")
    assert set(body) == {"error", "message", "requestId"}
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("POST", "/v2/contactinfos"), ("GET", "/v3/contactinfo")],
)
def test_unknown_route_is_404_with_error_shape(client, tenant, method, path):
    response = client.request(method, path, headers=tenant.headers)
    body = assert_error(response, 404, "not_found")
    assert set(body) == {"error", "message", "requestId"}


# -- 500 -------------------------------------------------------------------------------------

INTERNAL_SECRET = "internal-detail-7f3a"


@pytest.fixture
def break_apply(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make the apply step fail after the contacts were written, inside the transaction, with
    the kind of error a database driver raises (SQL, parameters and internal names in it)."""

    def fail(*args: object) -> None:
        raise sqlalchemy.exc.IntegrityError(
            "INSERT INTO groups (tenant_id, group_id) VALUES (?, ?)",
            {"group_id": INTERNAL_SECRET},
            Exception(f"UNIQUE constraint failed: groups.group_id {INTERNAL_SECRET}"),
        )

    return lambda: monkeypatch.setattr(pushapi.store.contacts, "apply_group_attributes", fail)


def test_failure_during_apply_is_500_without_internals_and_changes_nothing(
    client, tenant, snapshot, break_apply
):
    seed(client, tenant)
    break_apply()
    before = snapshot(tenant)
    records = [
        contact("a", FirstName="Changed"),
        deletion("b"),
        contact("c"),
        contact("d"),
        {**contact("e"), "Groups": [{"GroupId": "g1", "GroupName": "G"}]},
    ]
    response = client.post(PUSH, json=records, headers=tenant.headers)
    body = assert_error(response, 500, "internal_error")
    assert set(body) == {"error", "message", "requestId"}
    for internal in (
        INTERNAL_SECRET,
        "Traceback",
        "INSERT",
        "groups",
        "sqlalchemy",
        "Integrity",
        "apply_group_attributes",
        "File ",
        ".py",
        "UNIQUE",
    ):
        assert internal not in response.text
    assert snapshot(tenant) == before


# -- request ids -----------------------------------------------------------------------------


def test_every_push_answer_is_json_with_request_id_equal_to_header(
    client, make_client, make_tenant, break_apply
):
    tenant = make_tenant()
    limited = make_client(rate_limit_per_minute=1, max_records=2)
    no_key = {"Content-Type": "application/json"}
    answers = [
        client.post(PUSH, json=[contact("a")], headers=tenant.headers),  # 200
        client.post(PUSH, content=b"{", headers=tenant.headers),  # 400
        client.post(PUSH, json=[{}], headers=tenant.headers),  # 400 validation_failed
        client.post(PUSH, json=[], headers=no_key),  # 401
        client.post(PUSH, json=[], headers=make_tenant(region="ca").headers),  # 421
        client.post(PUSH, content=b"[]", headers={**tenant.headers, "Content-Type": "text/csv"}),
        client.get(PUSH, headers=tenant.headers),  # 405
        client.get("/v2/nowhere", headers=tenant.headers),  # 404
        limited.post(PUSH, json=[contact("x")] * 3, headers=tenant.headers),  # 413
        limited.post(PUSH, json=[], headers=tenant.headers),  # 429
    ]
    break_apply()
    answers.append(client.post(PUSH, json=[contact("f")], headers=tenant.headers))  # 500
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 400, 400, 401, 404, 405, 413, 415, 421, 429, 500]
    for answer in answers:
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["requestId"] == answer.headers["x-request-id"], answer.text
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == len(ids)


def test_request_ids_differ_between_requests(client, tenant):
    ids = [client.post(PUSH, json=[], headers=tenant.headers).headers["x-request-id"]]
    ids += [client.get("/healthz").headers["x-request-id"] for _ in range(10)]
    ids += [client.get("/metrics").headers["x-request-id"] for _ in range(3)]
    assert all(ids) and len(set(ids)) == len(ids)


# -- atomicity -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_index", [0, 3, 6])
def test_one_bad_record_among_many_changes_nothing(client, tenant, snapshot, bad_index):
    seed(client, tenant)
    valid = [
        contact("a", FirstName="Changed"),  # would update
        deletion("b"),  # would delete
        contact("c"),  # would be unchanged
        contact("d"),  # would create
        {**contact("e"), "Groups": [{"GroupId": "g1", "GroupName": "Group one"}]},  # would restore
        contact("f", IsMember=True),  # would create
    ]
    bad = contact("z", Birthday="not a date")
    before = snapshot(tenant)
    records = [*valid[:bad_index], bad, *valid[bad_index:]]
    response = client.post(PUSH, json=records, headers=tenant.headers)
    assert [e["index"] for e in assert_error(response, 400, "validation_failed")["errors"]] == [
        bad_index
    ]
    assert snapshot(tenant) == before
    # The same records without the bad one do change the stored state.
    response = client.post(PUSH, json=valid, headers=tenant.headers)
    counts = {k: response.json()[k] for k in ("created", "updated", "deleted", "unchanged")}
    assert counts == {"created": 2, "updated": 2, "deleted": 1, "unchanged": 1}
    assert snapshot(tenant) != before


def test_rejected_push_changes_nothing_through_real_http(start_server, tenant, snapshot):
    server = start_server()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        seeded = [contact(f"s{i}", FirstName="Before") for i in range(20)]
        assert http.post(PUSH, json=seeded, headers=tenant.headers).status_code == 200
        before = snapshot(tenant)
        records = [contact(f"s{i}", FirstName="After") for i in range(20)]
        records += [contact(f"new{i}") for i in range(20)] + [deletion("s0")]
        records.insert(30, contact("bad", Latitude=0, Age=1.5))
        response = http.post(PUSH, json=records, headers=tenant.headers)
        errors = assert_error(response, 400, "validation_failed")["errors"]
        assert {e["index"] for e in errors} == {30}
        assert snapshot(tenant) == before
        read = http.get("/v2/contacts/s1", headers=tenant.headers).json()
        assert read["ContactDetails"]["FirstName"] == "Before"
        assert http.get("/v2/contacts/new0", headers=tenant.headers).status_code == 404


# -- counts ----------------------------------------------------------------------------------


def test_counts_of_a_mixed_push_add_up_to_received(client, tenant):
    seed(client, tenant)
    records = [
        contact("a", FirstName="Changed"),  # updated
        deletion("b"),  # deleted
        contact("c"),  # unchanged: identical re-push
        contact("d"),  # created
        contact("e"),  # updated: restored from deletion
        deletion("unknown"),  # unchanged (+ warning)
        contact("g"),  # created
        contact("g", FirstName="Again"),  # updated: the same id later in the array
        deletion("b"),  # unchanged: already deleted by this push
    ]
    response = client.post(PUSH, json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "requestId",
        "received",
        "created",
        "updated",
        "deleted",
        "unchanged",
        "rejected",
        "warnings",
    }
    assert body["received"] == len(records) == 9
    assert (body["created"], body["updated"], body["deleted"], body["unchanged"]) == (2, 3, 1, 3)
    assert body["rejected"] == 0
    counted = ("created", "updated", "deleted", "unchanged", "rejected")
    assert body["received"] == sum(body[name] for name in counted)


def test_empty_array_is_200_with_zero_counts(client, tenant, snapshot):
    before = snapshot(tenant)
    response = client.post(PUSH, json=[], headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "requestId": response.headers["x-request-id"],
        "received": 0,
        "created": 0,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "rejected": 0,
        "warnings": [],
    }
    assert snapshot(tenant) == before


REDIS_URL = os.environ.get("PUSHAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip() -> None:
    """Redis for the shared rate limits; skipped when away, unless PUSHAPI_REQUIRE_REDIS=1
    (CI), which makes it a failure."""
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    except (OSError, AssertionError) as error:
        message = f"Redis not reachable at {REDIS_URL}: {error}"
        if os.environ.get("PUSHAPI_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_rate_limits_kept_in_redis_are_shared_by_every_worker(make_client, make_tenant):
    redis_or_skip()
    workers = [make_client(rate_limit_per_minute=3, rate_limit_storage=REDIS_URL) for _ in range(2)]
    tenant, other = make_tenant(), make_tenant()
    statuses = [
        worker.post(PUSH, json=[], headers=tenant.headers).status_code
        for worker in (workers[0], workers[1], workers[0], workers[1])
    ]
    assert statuses == [200, 200, 200, 429]  # three a minute, whichever worker counts them
    answer = workers[1].post(PUSH, json=[], headers=tenant.headers)
    assert answer.status_code == 429 and answer.headers["ratelimit-remaining"] == "0"
    assert workers[0].post(PUSH, json=[], headers=other.headers).status_code == 200


def test_a_rate_limit_storage_that_is_not_memory_or_redis_is_refused():
    with pytest.raises(ValueError, match="expected memory:"):
        Settings(rate_limit_storage="memcached://127.0.0.1:11211")
