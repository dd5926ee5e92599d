"""Input no client should send, answered with the error it deserves, never 500, on both
engines: NUL in ids and cursors, several ApiKey headers, made-up methods and paths that would
grow /metrics."""

import base64
from typing import Any

import httpx
import msgspec
import pytest

PUSH = "/v2/contactinfo"
ONE_RECORD_PATHS = [
    "/v2/contacts/a%00b",
    "/v2/meetings/a%00b",
    "/v2/products/a%00b",
    "/v2/groups/a%00b",
    "/v2/lists/a%00b",
    "/v2/pushes/a%00b",
    "/v2/contacts/%00",
]
LISTINGS = ["/v2/contacts", "/v2/meetings", "/v2/products", "/v2/groups", "/v2/lists", "/v2/pushes"]


def contact(contact_id: str) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Doe"}}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).decode().rstrip("=")


@pytest.mark.parametrize("path", ONE_RECORD_PATHS)
def test_an_id_with_nul_is_not_found(client, tenant, path):
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("path", LISTINGS)
def test_a_cursor_holding_nul_is_a_bad_parameter(client, tenant, path):
    response = client.get(path, params={"cursor": cursor_of(["\u0000"])}, headers=tenant.headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_parameter" and "cursor" in body["message"]


@pytest.mark.parametrize("path", LISTINGS)
def test_a_cursor_this_server_did_not_hand_out_is_a_bad_parameter(client, tenant, path):
    for cursor in (cursor_of(["a", "b"]), cursor_of({"a": 1}), "%%%", cursor_of([7])):
        response = client.get(path, params={"cursor": cursor}, headers=tenant.headers)
        assert response.status_code == 400, (cursor, response.text)


def test_two_api_key_headers_are_refused_even_when_both_are_valid(client, tenant):
    headers = httpx.Headers([("ApiKey", tenant.api_key), ("ApiKey", tenant.api_key)])
    headers["Content-Type"] = "application/json"
    push = client.post(PUSH, json=[contact("a")], headers=headers)
    assert push.status_code == 401, push.text
    assert "ApiKey" in push.json()["message"]
    read = client.get("/v2/contacts", headers=headers)
    assert read.status_code == 401
    alone = client.get("/v2/contacts/a", headers=tenant.headers)
    assert alone.status_code == 404  # the refused push stored nothing


def test_made_up_methods_and_paths_do_not_grow_the_metrics(client, tenant):
    def size() -> int:
        return len(client.get("/metrics").text)

    for n in range(3):  # every label value the requests below can use, once
        client.request("FROB", PUSH)
        client.get(f"/nowhere/{n}")
    before = size()
    for n in range(200):
        client.request(f"M{n}X", PUSH)
        client.request(f"M{n}", f"/nowhere/{n}")
        client.get(f"/v2/unknown-{n}")
    text = client.get("/metrics").text
    assert "M17X" not in text and "unknown-17" not in text and "/nowhere/3" not in text
    assert len(text) < before * 1.2  # counts grew, series did not
    assert 'method="other"' in text and 'endpoint="unmatched"' in text


# -- per-record limits: no record costs memory out of proportion (docs/configuration.md) -----


def groups(n: int) -> list[dict[str, str]]:
    return [{"GroupId": f"G{i}", "GroupName": f"Group {i}"} for i in range(n)]


@pytest.mark.parametrize("count", [1001, 5000])  # read, then counted before it is read
def test_a_collection_over_its_limit_is_refused_naming_the_field(client, tenant, snapshot, count):
    before = snapshot(tenant)
    records = [contact("ok"), {**contact("many"), "Groups": groups(count)}]
    response = client.post(PUSH, json=records, headers=tenant.headers)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert errors == [
        {
            "index": 1,
            "path": "Groups",
            "message": f"expected at most 1000 entries (PUSHAPI_MAX_COLLECTION_ITEMS), got {count}",
        }
    ]
    assert snapshot(tenant) == before


def test_a_collection_at_its_limit_is_taken(client, tenant):
    response = client.post(
        PUSH, json=[{**contact("full"), "Groups": groups(1000)}], headers=tenant.headers
    )
    assert response.status_code == 200, response.text


def test_a_large_record_is_counted_in_any_letter_case(make_client, tenant):
    limited = make_client(max_collection_items=2)
    record = {**contact("c"), "addresses": [{"City": "x" * 30_000} for _ in range(3)]}
    response = limited.post(PUSH, json=[record], headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["path"] == "Addresses"


def test_a_list_record_over_its_id_limit_is_refused(client, tenant):
    ids = [f"C{i}" for i in range(100_001)]
    record = {"ListId": "L", "Mode": "Replace", "ContactIds": ids}
    response = client.post("/v2/list", json=[record], headers=tenant.headers)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert (error["index"], error["path"]) == (0, "ContactIds")
    assert "100000" in error["message"] and "PUSHAPI_MAX_LIST_IDS" in error["message"]
    assert client.get("/v2/lists/L", headers=tenant.headers).status_code == 404


def test_listing_pages_end_at_their_byte_budget_and_miss_nothing(make_client, tenant):
    small = make_client(max_page_bytes=1500)
    big = [{**contact(f"c{i}"), "ContactDetails": {"ContactId": f"c{i}", "Bio": "b" * 600,
            "LastName": "Doe"}} for i in range(7)]  # fmt: skip
    assert small.post(PUSH, json=big, headers=tenant.headers).status_code == 200
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = small.get("/v2/contacts", params=params, headers=tenant.headers).json()
        assert 1 <= len(page["items"]) <= 2  # each document is about 700 bytes
        seen += [item["ContactDetails"]["ContactId"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(f"c{i}" for i in range(7)) and pages >= 4


# -- a property given twice in one object: a warning naming it, the last non-null value kept ---


def test_a_property_given_twice_is_a_warning_and_a_later_null_does_not_wipe_it(client, tenant):
    body = (
        b'[{"ContactDetails": {"ContactId": "dup", "LastName": "Doe", "FirstName": "Ann",'
        b' "FirstName": null}, "Addresses": [{"City": "Oslo", "City": "Bergen"}]}]'
    )
    response = client.post(PUSH, content=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    warnings = {(w["index"], w["path"]): w["message"] for w in response.json()["warnings"]}
    assert "given more than once" in warnings[(0, "ContactDetails.FirstName")]
    assert "given more than once" in warnings[(0, "Addresses[0].City")]
    stored = client.get("/v2/contacts/dup", headers=tenant.headers).json()
    assert stored["ContactDetails"]["FirstName"] == "Ann"
    assert stored["Addresses"][0]["City"] == "Bergen"


def test_a_record_without_repeated_names_is_read_as_before(client, tenant):
    """The compiled reader takes records whose values hold quotes and colons."""
    tricky = {"ContactDetails": {"ContactId": "q", "LastName": 'say "a": b\\\\', "Bio": '":x'}}
    response = client.post(PUSH, json=[tricky], headers=tenant.headers)
    assert response.status_code == 200 and response.json()["warnings"] == []
