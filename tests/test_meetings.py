"""Meetings (SPEC 4.3): full replace, soft delete, the field rules, counts, and the reads of
SPEC 5 (one meeting, the listing, includeDeleted, tenant isolation)."""

from typing import Any

import pytest

# The canonical Meeting fields as SPEC 4.3 spells them (written here, not taken from pushapi).
MEETING_FIELDS = (
    "MeetingId", "Title", "Description", "MeetingType", "BeginDate", "EndDate", "TimeZone",
    "RegistrationOpenDate", "RegistrationCloseDate", "Price", "LocationName", "AddressLine1",
    "AddressLine2", "City", "State", "PostalCode", "Country", "Url", "IsDeleted",
)  # fmt: skip

FULL_MEETING = {
    "MeetingId": "M1",
    "Title": "Annual conference",
    "Description": "<p>Three days</p>",
    "MeetingType": "Conference",
    "BeginDate": "2025-06-01T09:00:00.000-04:00",
    "EndDate": "2025-06-03T17:00:00.000-04:00",
    "TimeZone": "America/New_York",
    "RegistrationOpenDate": "2025-01-01",
    "RegistrationCloseDate": "2025-05-15T23:59:59.9999999Z",
    "Price": "10.00, 25.00",
    "LocationName": "Convention Center",
    "AddressLine1": "1 Main St",
    "AddressLine2": "Hall B",
    "City": "Atlanta",
    "State": "GA",
    "PostalCode": "30303",
    "Country": "US",
    "Url": "https://example.org/annual",
}


def push_meetings(client: Any, tenant: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v2/meeting", json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def counts(result: dict[str, Any]) -> tuple[int, int, int, int]:
    return result["created"], result["updated"], result["deleted"], result["unchanged"]


def rejected(client: Any, tenant: Any, records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    response = client.post("/v2/meeting", json=records, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "validation_failed"
    return [(e["index"], e["path"]) for e in response.json()["errors"]]


def test_meeting_reads_back_in_full_shape_and_repushes_unchanged(client, tenant):
    result = push_meetings(client, tenant, [FULL_MEETING])
    assert counts(result) == (1, 0, 0, 0)
    body = client.get("/v2/meetings/M1", headers=tenant.headers).json()
    assert list(body) == [*MEETING_FIELDS, "Meta"]
    assert body["BeginDate"] == "2025-06-01T13:00:00.000Z"
    assert body["EndDate"] == "2025-06-03T21:00:00.000Z"
    assert body["RegistrationOpenDate"] == "2025-01-01T00:00:00.000Z"
    assert body["RegistrationCloseDate"] == "2025-05-15T23:59:59.999Z"
    assert (body["Price"], body["TimeZone"], body["IsDeleted"]) == (
        "10.00, 25.00",
        "America/New_York",
        False,
    )
    assert set(body["Meta"]) == {"CreatedAt", "UpdatedAt", "IsDeleted"}
    again = push_meetings(client, tenant, [body])
    assert counts(again) == (0, 0, 0, 1)
    assert [w["path"] for w in again["warnings"]] == ["Meta"]
    del body["Meta"]
    assert counts(push_meetings(client, tenant, [body])) == (0, 0, 0, 1)


def test_meeting_push_is_a_full_replace(client, tenant):
    push_meetings(client, tenant, [FULL_MEETING])
    result = push_meetings(client, tenant, [{"MeetingId": "M1", "Title": "Renamed"}])
    assert counts(result) == (0, 1, 0, 0)
    body = client.get("/v2/meetings/M1", headers=tenant.headers).json()
    assert body["Title"] == "Renamed"
    assert all(body[name] is None for name in MEETING_FIELDS[2:-1])


def test_meeting_soft_delete_needs_only_the_id(client, tenant):
    push_meetings(client, tenant, [FULL_MEETING])
    result = push_meetings(client, tenant, [{"MeetingId": "M1", "IsDeleted": True}])
    assert (counts(result), result["warnings"]) == ((0, 0, 1, 0), [])
    assert client.get("/v2/meetings/M1", headers=tenant.headers).status_code == 404
    hidden = client.get("/v2/meetings/M1?includeDeleted=true", headers=tenant.headers).json()
    assert (hidden["IsDeleted"], hidden["Meta"]["IsDeleted"]) == (True, True)
    assert hidden["Title"] == FULL_MEETING["Title"]  # kept stored, only hidden
    again = push_meetings(client, tenant, [{"MeetingId": "M1", "IsDeleted": "TRUE"}])
    assert counts(again) == (0, 0, 0, 1)


def test_meeting_delete_unknown_is_unchanged_with_a_warning(client, tenant):
    result = push_meetings(client, tenant, [{"MeetingId": "ghost", "IsDeleted": True}])
    assert counts(result) == (0, 0, 0, 1)
    assert [(w["index"], w["path"]) for w in result["warnings"]] == [(0, "MeetingId")]


def test_meeting_push_after_delete_restores_with_new_data(client, tenant):
    push_meetings(client, tenant, [FULL_MEETING])
    push_meetings(client, tenant, [{"MeetingId": "M1", "IsDeleted": True}])
    result = push_meetings(client, tenant, [{**FULL_MEETING, "City": "Boston"}])
    assert counts(result) == (0, 1, 0, 0)
    body = client.get("/v2/meetings/M1", headers=tenant.headers).json()
    assert (body["City"], body["IsDeleted"]) == ("Boston", False)
    push_meetings(client, tenant, [{"MeetingId": "M1", "IsDeleted": True}])
    same_data = push_meetings(client, tenant, [{**FULL_MEETING, "City": "Boston"}])
    assert counts(same_data) == (0, 1, 0, 0)  # restoring identical data is still an update


def test_meeting_is_deleted_false_is_the_same_as_absent(client, tenant):
    push_meetings(client, tenant, [FULL_MEETING])
    result = push_meetings(client, tenant, [{**FULL_MEETING, "IsDeleted": False}])
    assert counts(result) == (0, 0, 0, 1)


def test_meeting_same_id_twice_later_wins_with_a_warning(client, tenant):
    records = [{"MeetingId": "M1", "Title": "First"}, {"MeetingId": "M1", "Title": "Second"}]
    result = push_meetings(client, tenant, records)
    assert counts(result) == (1, 1, 0, 0)
    assert [(w["index"], w["path"]) for w in result["warnings"]] == [(1, "MeetingId")]
    assert client.get("/v2/meetings/M1", headers=tenant.headers).json()["Title"] == "Second"


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"Title": "No id"}, "MeetingId"),
        ({"MeetingId": "M2"}, "Title"),
        ({"MeetingId": "M2", "Title": "   "}, "Title"),
        ({"MeetingId": "M2", "Title": "T", "IsDeleted": False}, None),  # control: valid
        ({"MeetingId": "M2", "Title": "T", "Price": 10}, "Price"),
        ({"MeetingId": "M2", "Title": "T", "TimeZone": "Eastern Standard Time"}, "TimeZone"),
        ({"MeetingId": "M2", "Title": "T", "TimeZone": "Mars/Olympus_Mons"}, "TimeZone"),
        ({"MeetingId": "M2", "Title": "T", "TimeZone": "../../etc/passwd"}, "TimeZone"),
        ({"MeetingId": "M2", "Title": "T", "BeginDate": "next week"}, "BeginDate"),
        (
            {"MeetingId": "M2", "Title": "T", "BeginDate": "2025-06-02", "EndDate": "2025-06-01"},
            "EndDate",
        ),
        (
            {
                "MeetingId": "M2",
                "Title": "T",
                "BeginDate": "2025-06-01T10:00:00.000+02:00",
                "EndDate": "2025-06-01T07:59:59.999Z",
            },
            "EndDate",
        ),
        ({"MeetingId": "M2", "Title": "T", "IsDeleted": "maybe"}, "IsDeleted"),
        ({"MeetingId": "M2", "Title": "T", "City": "x" * 4001}, "City"),
    ],
)
def test_meeting_field_rules_reject_and_change_nothing(client, tenant, snapshot, record, path):
    push_meetings(client, tenant, [FULL_MEETING])
    before = snapshot(tenant)
    records = [{**FULL_MEETING, "Title": "Changed"}, record]
    if path is None:
        assert counts(push_meetings(client, tenant, records)) == (1, 1, 0, 0)
        return
    assert rejected(client, tenant, records) == [(1, path)]
    assert snapshot(tenant) == before


def test_meeting_time_zone_in_wrong_case_names_the_right_spelling(client, tenant):
    response = client.post(
        "/v2/meeting",
        json=[{"MeetingId": "M", "Title": "T", "TimeZone": "europe/paris"}],
        headers=tenant.headers,
    )
    assert response.status_code == 400
    assert "'Europe/Paris'" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("zone", ["Europe/Paris", "UTC", "Asia/Kolkata", "America/St_Johns"])
def test_meeting_time_zone_accepts_iana_names(client, tenant, zone):
    push_meetings(client, tenant, [{"MeetingId": "M", "Title": "T", "TimeZone": zone}])
    assert client.get("/v2/meetings/M", headers=tenant.headers).json()["TimeZone"] == zone


def test_meeting_end_date_equal_to_begin_date_is_accepted(client, tenant):
    moment = "2025-06-01T10:00:00.000Z"
    record = {"MeetingId": "M", "Title": "T", "BeginDate": moment, "EndDate": moment}
    assert counts(push_meetings(client, tenant, [record])) == (1, 0, 0, 0)


def test_meeting_deletion_skips_the_field_rules_it_does_not_apply(client, tenant):
    # SPEC 4.3: Title is required unless deleted; a deletion applies nothing but the flag.
    records = [{"MeetingId": "M", "IsDeleted": True, "Description": None}]
    assert counts(push_meetings(client, tenant, records)) == (0, 0, 0, 1)


def test_meeting_every_error_is_reported(client, tenant):
    records = [
        {"MeetingId": "A", "Price": 3},
        {"MeetingId": "B", "Title": "T", "TimeZone": "Nowhere", "EndDate": "soon"},
    ]
    assert sorted(rejected(client, tenant, records)) == [
        (0, "Price"),
        (0, "Title"),
        (1, "EndDate"),
        (1, "TimeZone"),  # a rule runs unless a field it reads failed (EndDate is not one)
    ]


def test_meeting_property_names_match_in_any_case(client, tenant):
    record = {"meetingid": "M", "TITLE": "T", "timezone": "UTC", "isdeleted": "false"}
    result = push_meetings(client, tenant, [record])
    assert (counts(result), result["warnings"]) == ((1, 0, 0, 0), [])
    assert client.get("/v2/meetings/M", headers=tenant.headers).json()["TimeZone"] == "UTC"


def test_meetings_listing_pages_and_hides_deleted(client, tenant):
    records = [{"MeetingId": f"M{n}", "Title": f"Meeting {n}"} for n in range(1, 6)]
    push_meetings(client, tenant, records)
    push_meetings(client, tenant, [{"MeetingId": "M3", "IsDeleted": True}])

    def walk(**params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
            response = client.get("/v2/meetings", params=query, headers=tenant.headers)
            assert response.status_code == 200, response.text
            items.extend(response.json()["items"])
            cursor = response.json()["nextCursor"]
            if cursor is None:
                return items

    assert [m["MeetingId"] for m in walk()] == ["M1", "M2", "M4", "M5"]
    everything = walk(includeDeleted="true")
    assert [m["MeetingId"] for m in everything] == ["M1", "M2", "M3", "M4", "M5"]
    assert [m["IsDeleted"] for m in everything] == [False, False, True, False, False]
    assert list(everything[0]) == [*MEETING_FIELDS, "Meta"]


def test_meetings_listing_modified_since_skips_unchanged_repush(client, tenant):
    push_meetings(client, tenant, [{"MeetingId": "M1", "Title": "One"}])
    first = client.get("/v2/meetings/M1", headers=tenant.headers).json()
    since = first["Meta"]["UpdatedAt"]
    push_meetings(client, tenant, [{"MeetingId": "M1", "Title": "One"}])
    later = client.get("/v2/meetings", params={"modifiedSince": since}, headers=tenant.headers)
    assert [m["MeetingId"] for m in later.json()["items"]] == ["M1"]
    assert later.json()["items"][0]["Meta"]["UpdatedAt"] == since
    future = client.get(
        "/v2/meetings", params={"modifiedSince": "2999-01-01"}, headers=tenant.headers
    )
    assert future.json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"cursor": "???"}, {"includeDeleted": "perhaps"}, {"modifiedSince": "x"}],
)
def test_meetings_listing_bad_parameter_is_400(client, tenant, params):
    response = client.get("/v2/meetings", params=params, headers=tenant.headers)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_parameter")


def test_another_tenants_meeting_is_404_and_not_listed(client, tenant, make_tenant):
    push_meetings(client, tenant, [FULL_MEETING])
    other = make_tenant()
    for path in ("/v2/meetings/M1", "/v2/meetings/M1?includeDeleted=true"):
        response = client.get(path, headers=other.headers)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
    listing = client.get("/v2/meetings?includeDeleted=true", headers=other.headers)
    assert listing.json()["items"] == []
    assert client.get("/v2/meetings/NOPE", headers=tenant.headers).status_code == 404


def test_meeting_ids_are_per_tenant(client, tenant, make_tenant):
    other = make_tenant(platform="marketing-pro")
    push_meetings(client, tenant, [{"MeetingId": "M1", "Title": "Mine"}])
    result = push_meetings(client, other, [{"MeetingId": "M1", "Title": "Theirs"}])
    assert counts(result) == (1, 0, 0, 0)
    assert client.get("/v2/meetings/M1", headers=tenant.headers).json()["Title"] == "Mine"
