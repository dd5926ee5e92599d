"""The ContactInfo push (SPEC 4.1): full replace, required fields, soft delete, array order,
community-essentials, unchanged re-pushes and the warnings of data-quality issues."""

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from test_contact_reads import COLLECTIONS, CONTACT_INFO_FIELDS, list_all, person, push, utc_millis

from pushapi.store import tables


def post(client: Any, tenant: Any, records: list[dict[str, Any]]) -> Any:
    return client.post("/v2/contactinfo", json=records, headers=tenant.headers)


def read(client: Any, tenant: Any, contact_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v2/contacts/{contact_id}", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def counts(answer: dict[str, Any]) -> tuple[int, int, int, int]:
    return answer["created"], answer["updated"], answer["deleted"], answer["unchanged"]


def warning_paths(answer: dict[str, Any]) -> list[tuple[int, str]]:
    return [(w["index"], w["path"]) for w in answer["warnings"]]


def compact(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry read back without its null fields, to compare with what was pushed."""
    return {name: value for name, value in entry.items() if value is not None}


def errors_of(response: Any) -> list[tuple[int, str]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "validation_failed"
    return [(e["index"], e["path"]) for e in body["errors"]]


def deletion(contact_id: str) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "IsDeleted": True}}


# Two different contents for every collection, in the normalised form they read back in.
ENTRIES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "Groups": (
        [{"GroupId": "G1", "GroupName": "One", "Role": "Chair"},
         {"GroupId": "G2", "BeginDate": "2020-01-01T00:00:00.000Z"},
         {"GroupId": "G3", "GroupType": "SIG", "EndDate": "2040-01-01T00:00:00.000Z"}],
        [{"GroupId": "G4", "Role": "Member", "InitialJoinDate": "2001-02-03T04:05:06.007Z"}],
    ),
    "Demographics": (
        [{"DemographicName": "Interest", "DemographicValue": "Math"},
         {"DemographicName": "Interest", "DemographicValue": "Music"},
         {"DemographicName": "Region", "DemographicValue": "North"}],
        [{"DemographicName": "Interest", "DemographicValue": "Art"}],
    ),
    "Education": (
        [{"InstitutionName": "U1", "Degree": "BSc"}, {"InstitutionName": "U2"},
         {"InstitutionName": "U3", "GraduationDate": "1999-06-30T00:00:00.000Z"}],
        [{"InstitutionName": "U4", "FieldOfStudy": "Law"}],
    ),
    "JobHistory": (
        [{"CompanyName": "A", "IsCurrent": True}, {"CompanyName": "B", "Title": "CTO"},
         {"CompanyName": "C", "StartDate": "2010-01-01T00:00:00.000Z"}],
        [{"CompanyName": "D", "IsCurrent": False}],
    ),
    "Addresses": (
        [{"City": "Oslo", "IsPrimary": True}, {"City": "Bergen", "Latitude": 60.5},
         {"AddressLine1": "1 Way", "CountryCode": "NO"}],
        [{"City": "Tromso", "Longitude": -18.25}],
    ),
    "PhoneNumbers": (
        [{"FormattedNumber": "1"}, {"FormattedNumber": "2", "IsPreferred": True},
         {"FormattedNumber": "3", "PhoneType": "Fax"}],
        [{"FormattedNumber": "4", "IsSmsPreferred": True}],
    ),
    "EmailAddresses": (
        [{"EmailAddress": "a@example.org"}, {"EmailAddress": "b@example.org", "EmailType": "Work"},
         {"EmailAddress": "c@example.org", "IsPreferred": True}],
        [{"EmailAddress": "d@example.org", "DoNotPublish": True}],
    ),
    "Orders": (
        [{"OrderId": "O1", "ProductId": "P1", "Quantity": 1},
         {"OrderId": "O2", "ProductId": "P1", "Status": "Open"},
         {"OrderId": "O3", "ProductId": "P2", "TotalAmount": 12.5}],
        [{"OrderId": "O4", "ProductId": "P3", "OrderDate": "2024-01-02T03:04:05.006Z"}],
    ),
}  # fmt: skip


def with_collections(contact_id: str, **collections: list[dict[str, Any]]) -> dict[str, Any]:
    return {**person(contact_id, FirstName="F"), **collections}


# -- full replace -------------------------------------------------------------------------------


def test_field_left_out_becomes_null_on_read_back(client, tenant):
    details = {"Title": "Dr", "Age": 40, "Birthday": "1980-01-01", "IsMember": True}
    push(client, tenant, [person("c", FirstName="F", **details)])
    answer = push(client, tenant, [person("c", FirstName="F")])
    assert counts(answer) == (0, 1, 0, 0)
    back = read(client, tenant, "c")["ContactDetails"]
    assert [back[name] for name in details] == [None] * len(details)
    assert (back["FirstName"], back["LastName"]) == ("F", "Doe")


def test_blank_string_clears_a_field_like_leaving_it_out(client, tenant):
    push(client, tenant, [person("c", FirstName="F", Title="Dr")])
    answer = push(client, tenant, [person("c", FirstName="F", Title="   ")])
    assert counts(answer) == (0, 1, 0, 0)
    assert read(client, tenant, "c")["ContactDetails"]["Title"] is None
    assert counts(push(client, tenant, [person("c", FirstName="F")])) == (0, 0, 0, 1)


def test_collection_left_out_becomes_empty(client, tenant):
    full = with_collections("c", **{name: first for name, (first, _) in ENTRIES.items()})
    push(client, tenant, [full])
    answer = push(client, tenant, [person("c", FirstName="F")])
    assert counts(answer) == (0, 1, 0, 0)
    back = read(client, tenant, "c")
    for name in COLLECTIONS:
        assert back[name] == [], name
    group = client.get("/v2/groups/G1", headers=tenant.headers).json()
    assert group["ActiveMembers"] == []


def test_collection_left_out_and_pushed_empty_are_the_same_content(client, tenant):
    push(client, tenant, [person("c", FirstName="F")])
    empty = with_collections("c", **{name: [] for name in COLLECTIONS})
    assert counts(push(client, tenant, [empty])) == (0, 0, 0, 1)
    nulls = with_collections("c", **dict.fromkeys(COLLECTIONS))
    assert counts(push(client, tenant, [nulls])) == (0, 0, 0, 1)


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_collection_is_replaced_exactly(client, tenant, name):
    first, second = ENTRIES[name]
    push(client, tenant, [with_collections("c", **{name: first})])
    assert [compact(e) for e in read(client, tenant, "c")[name]] == first
    answer = push(client, tenant, [with_collections("c", **{name: second})])
    assert counts(answer) == (0, 1, 0, 0)
    back = read(client, tenant, "c")[name]
    assert [compact(e) for e in back] == second
    assert all(set(e) == set(CONTACT_INFO_FIELDS[name]) for e in back)


@pytest.mark.parametrize("name", list(ENTRIES))
def test_collection_order_is_preserved_and_a_new_order_is_a_change(client, tenant, name):
    first, _ = ENTRIES[name]
    push(client, tenant, [with_collections("c", **{name: first})])
    reordered = [first[2], first[0], first[1]]
    answer = push(client, tenant, [with_collections("c", **{name: reordered})])
    assert counts(answer) == (0, 1, 0, 0)
    assert [compact(e) for e in read(client, tenant, "c")[name]] == reordered


# -- required fields ----------------------------------------------------------------------------


def test_contact_details_is_required(client, tenant, snapshot):
    before = snapshot(tenant)
    response = post(client, tenant, [{"Groups": []}, {"ContactDetails": None}])
    assert errors_of(response) == [(0, "ContactDetails"), (1, "ContactDetails")]
    assert snapshot(tenant) == before


@pytest.mark.parametrize("contact_id", [None, "", "   "])
def test_contact_id_is_required_and_not_blank(client, tenant, contact_id):
    record = {"ContactDetails": {"ContactId": contact_id, "FirstName": "F"}}
    assert errors_of(post(client, tenant, [record])) == [(0, "ContactDetails.ContactId")]


@pytest.mark.parametrize("is_organization", [None, False, "false"])
def test_individual_needs_first_or_last_name(client, tenant, is_organization):
    details = {"ContactId": "c", "MiddleName": "M", "OrganizationName": "Org"}
    if is_organization is not None:
        details["IsOrganization"] = is_organization
    errors = errors_of(post(client, tenant, [{"ContactDetails": details}]))
    assert errors == [(0, "ContactDetails.FirstName")]
    blank = {**details, "FirstName": " ", "LastName": ""}
    assert errors_of(post(client, tenant, [{"ContactDetails": blank}])) == errors
    answer = push(
        client,
        tenant,
        [{"ContactDetails": {**details, "FirstName": "F"}},
         {"ContactDetails": {**details, "ContactId": "d", "LastName": "L"}}],
    )  # fmt: skip
    assert counts(answer) == (2, 0, 0, 0)


@pytest.mark.parametrize("is_organization", [True, "TRUE"])
def test_organization_needs_organization_name(client, tenant, is_organization):
    details = {"ContactId": "org", "IsOrganization": is_organization, "FirstName": "F"}
    errors = errors_of(post(client, tenant, [{"ContactDetails": details}]))
    assert errors == [(0, "ContactDetails.OrganizationName")]
    named = {"ContactId": "org", "IsOrganization": is_organization, "OrganizationName": "Acme"}
    assert counts(push(client, tenant, [{"ContactDetails": named}])) == (1, 0, 0, 0)
    back = read(client, tenant, "org")["ContactDetails"]
    assert (back["IsOrganization"], back["FirstName"], back["LastName"]) == (True, None, None)


@pytest.mark.parametrize(
    ("name", "entries", "paths"),
    [
        ("Groups", [{"GroupId": "g"}, {"Role": "Chair"}], ["Groups[1].GroupId"]),
        ("Groups", [{"GroupId": " "}], ["Groups[0].GroupId"]),
        ("EmailAddresses", [{"EmailType": "Work"}], ["EmailAddresses[0].EmailAddress"]),
        ("Demographics", [{"DemographicValue": "x"}], ["Demographics[0].DemographicName"]),
        ("Education", [{"Degree": "BSc"}], ["Education[0].InstitutionName"]),
        ("JobHistory", [{"CompanyName": "A"}, {"Title": "CTO"}], ["JobHistory[1].CompanyName"]),
        ("Orders", [{"OrderId": "O"}], ["Orders[0].ProductId"]),
        ("Orders", [{"ProductId": "P"}], ["Orders[0].OrderId"]),
        ("Orders", [{"Quantity": 1}], ["Orders[0].OrderId", "Orders[0].ProductId"]),
    ],
)
def test_required_field_of_a_collection_entry_is_reported_at_its_path(
    client, tenant, snapshot, name, entries, paths
):
    before = snapshot(tenant)
    records = [person("ok", FirstName="F"), with_collections("bad", **{name: entries})]
    assert errors_of(post(client, tenant, records)) == [(1, path) for path in paths]
    assert snapshot(tenant) == before


def test_every_error_of_every_record_is_reported_at_once(client, tenant, snapshot):
    before = snapshot(tenant)
    records = [
        {"ContactDetails": {"FirstName": "F"}},
        person("ok"),
        {"ContactDetails": {"ContactId": "x"}, "Groups": [{}], "EmailAddresses": [{}]},
    ]
    assert sorted(errors_of(post(client, tenant, records))) == [
        (0, "ContactDetails.ContactId"),
        (2, "ContactDetails.FirstName"),
        (2, "EmailAddresses[0].EmailAddress"),
        (2, "Groups[0].GroupId"),
    ]
    assert snapshot(tenant) == before


# -- soft delete --------------------------------------------------------------------------------


def test_delete_needs_only_contact_id_and_hides_the_contact(client, tenant):
    push(client, tenant, [person("c", FirstName="Kept"), person("other")])
    answer = push(client, tenant, [{"contactdetails": {"contactid": "c", "isdeleted": "True"}}])
    assert counts(answer) == (0, 0, 1, 0)
    assert answer["warnings"] == []
    response = client.get("/v2/contacts/c", headers=tenant.headers)
    assert response.status_code == 404
    assert [c["ContactDetails"]["ContactId"] for c in list_all(client, tenant)] == ["other"]
    hidden = read(client, tenant, "c", includeDeleted="true")
    assert hidden["Meta"]["IsDeleted"] is True
    assert hidden["ContactDetails"]["IsDeleted"] is True
    assert hidden["ContactDetails"]["FirstName"] == "Kept"


def test_delete_ignores_the_rest_of_the_record(client, tenant):
    push(client, tenant, [person("c", FirstName="Kept")])
    record = {"ContactDetails": {"ContactId": "c", "IsDeleted": True, "FirstName": "Other"}}
    assert counts(push(client, tenant, [record])) == (0, 0, 1, 0)
    back = read(client, tenant, "c", includeDeleted="true")["ContactDetails"]
    assert back["FirstName"] == "Kept"


def test_push_after_delete_restores_with_the_newly_pushed_data(client, tenant):
    push(client, tenant, [with_collections("c", Groups=[{"GroupId": "G"}], Title="Old")])
    push(client, tenant, [deletion("c")])
    answer = push(client, tenant, [person("c", FirstName="New")])
    assert counts(answer) == (0, 1, 0, 0)
    back = read(client, tenant, "c")
    assert back["Meta"]["IsDeleted"] is False
    assert back["ContactDetails"]["IsDeleted"] is False
    assert (back["ContactDetails"]["FirstName"], back["ContactDetails"]["Title"]) == ("New", None)
    assert back["Groups"] == []


def test_restore_with_identical_data_counts_as_updated(client, tenant):
    record = with_collections("c", Groups=[{"GroupId": "G"}])
    push(client, tenant, [record])
    push(client, tenant, [deletion("c")])
    assert counts(push(client, tenant, [record])) == (0, 1, 0, 0)
    assert read(client, tenant, "c")["Meta"]["IsDeleted"] is False
    assert counts(push(client, tenant, [record])) == (0, 0, 0, 1)


def test_delete_of_unknown_contact_is_unchanged_with_a_warning(client, tenant):
    answer = push(client, tenant, [person("a"), deletion("ghost")])
    assert counts(answer) == (1, 0, 0, 1)
    assert warning_paths(answer) == [(1, "ContactDetails.ContactId")]
    stored = list_all(client, tenant, includeDeleted="true")
    assert [c["ContactDetails"]["ContactId"] for c in stored] == ["a"]


def test_delete_of_deleted_contact_is_unchanged_and_writes_nothing(client, tenant, snapshot):
    push(client, tenant, [person("c")])
    push(client, tenant, [deletion("c")])
    before = snapshot(tenant)
    answer = push(client, tenant, [deletion("c")])
    assert counts(answer) == (0, 0, 0, 1)
    assert answer["warnings"] == []
    assert snapshot(tenant) == before


# -- community-essentials -----------------------------------------------------------------------


def test_essentials_drops_demographics_education_jobs_and_orders_with_a_warning_each(
    client, make_tenant
):
    tenant = make_tenant(platform="community-essentials")
    record = with_collections("c", **{name: first for name, (first, _) in ENTRIES.items()})
    answer = push(client, tenant, [person("before"), record])
    assert counts(answer) == (2, 0, 0, 0)
    dropped = ("Demographics", "Education", "JobHistory", "Orders")
    assert sorted(warning_paths(answer)) == sorted((1, name) for name in dropped)
    back = read(client, tenant, "c")
    for name in dropped:
        assert back[name] == [], name
    for name in ("Groups", "Addresses", "PhoneNumbers", "EmailAddresses"):
        assert [compact(e) for e in back[name]] == ENTRIES[name][0], name
    assert back["ContactDetails"]["FirstName"] == "F"


def test_essentials_empty_dropped_collections_need_no_warning(client, make_tenant):
    tenant = make_tenant(platform="community-essentials")
    record = with_collections("c", Demographics=[], Education=[], JobHistory=[], Orders=[])
    answer = push(client, tenant, [record])
    assert (counts(answer), answer["warnings"]) == ((1, 0, 0, 0), [])


def test_essentials_repush_with_dropped_collections_is_unchanged(client, make_tenant):
    tenant = make_tenant(platform="community-essentials")
    record = with_collections("c", Demographics=ENTRIES["Demographics"][0])
    push(client, tenant, [record])
    answer = push(client, tenant, [record])
    assert counts(answer) == (0, 0, 0, 1)
    assert warning_paths(answer) == [(0, "Demographics")]


# -- unchanged re-push --------------------------------------------------------------------------


def test_identical_repush_is_unchanged_and_writes_nothing(client, tenant, snapshot):
    records = [
        with_collections("a", **{name: first for name, (first, _) in ENTRIES.items()}),
        with_collections("b", Groups=ENTRIES["Groups"][1]),
    ]
    push(client, tenant, records)
    before = snapshot(tenant)
    metas = [read(client, tenant, cid)["Meta"] for cid in ("a", "b")]
    time.sleep(0.02)
    since = utc_millis(datetime.now(UTC))
    time.sleep(0.02)
    answer = push(client, tenant, records)
    assert counts(answer) == (0, 0, 0, 2)
    assert snapshot(tenant) == before
    assert [read(client, tenant, cid)["Meta"] for cid in ("a", "b")] == metas
    assert list_all(client, tenant, modifiedSince=since) == []


def test_repush_of_the_same_values_in_other_spellings_is_unchanged(client, tenant, snapshot):
    push(client, tenant, [person("c", FirstName="F", IsMember=True, Age=30,
                                 Birthday="1990-01-02T03:04:05.678Z")])  # fmt: skip
    before = snapshot(tenant)
    respelled = {
        "CONTACTDETAILS": {
            "contactId": "c", "firstname": "F", "LASTNAME": "Doe", "ismember": "true",
            "Age": "30", "birthday": "1990-01-02T05:04:05.6789+02:00", "Title": "",
        },
        "groups": [],
    }  # fmt: skip
    assert counts(push(client, tenant, [respelled])) == (0, 0, 0, 1)
    after = snapshot(tenant)
    # Only the digest of the bytes last pushed moves (so that they are recognised next time):
    # not the document, not updated_at.
    assert without_digests(after) == without_digests(before)
    assert after["contacts"][0][-2] != before["contacts"][0][-2]


def without_digests(state: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """A snapshot without the contacts' raw_hash and group_attributes (their last columns)."""
    names = [column.name for column in tables.contacts.columns]
    assert names[-2:] == ["raw_hash", "group_attributes"]
    return {**state, "contacts": [row[:-2] for row in state["contacts"]]}


def test_changed_field_is_updated_and_moves_updated_at(client, tenant):
    push(client, tenant, [person("c", FirstName="Old"), person("d")])
    meta = read(client, tenant, "c")["Meta"]
    time.sleep(0.02)
    since = utc_millis(datetime.now(UTC))
    time.sleep(0.02)
    answer = push(client, tenant, [person("c", FirstName="New"), person("d")])
    assert counts(answer) == (0, 1, 0, 1)
    after = read(client, tenant, "c")
    assert after["Meta"]["CreatedAt"] == meta["CreatedAt"]
    assert after["Meta"]["UpdatedAt"] > since >= meta["UpdatedAt"]
    assert after["ContactDetails"]["FirstName"] == "New"
    changed = list_all(client, tenant, modifiedSince=since)
    assert [c["ContactDetails"]["ContactId"] for c in changed] == ["c"]


# -- array order --------------------------------------------------------------------------------


def test_same_contact_twice_in_one_request_the_later_wins(client, tenant):
    answer = push(client, tenant, [person("c", FirstName="First"), person("c", FirstName="Second")])
    assert counts(answer) == (1, 1, 0, 0)
    [warning] = answer["warnings"]
    assert (warning["index"], warning["path"]) == (1, "ContactDetails.ContactId")
    assert "0" in warning["message"]
    assert read(client, tenant, "c")["ContactDetails"]["FirstName"] == "Second"


def test_same_contact_twice_identical_counts_created_then_unchanged(client, tenant):
    record = person("c", FirstName="Same")
    answer = push(client, tenant, [person("x"), record, record])
    assert counts(answer) == (2, 0, 0, 1)
    assert warning_paths(answer) == [(2, "ContactDetails.ContactId")]


def test_same_stored_contact_three_times_counts_each_step(client, tenant):
    push(client, tenant, [person("c", FirstName="A")])
    answer = push(
        client,
        tenant,
        [person("c", FirstName="A"), person("c", FirstName="B"), person("c", FirstName="C")],
    )
    assert counts(answer) == (0, 2, 0, 1)
    assert read(client, tenant, "c")["ContactDetails"]["FirstName"] == "C"


def test_delete_then_recreate_in_one_request(client, tenant):
    push(client, tenant, [with_collections("c", Groups=[{"GroupId": "Old"}])])
    answer = push(
        client, tenant, [deletion("c"), with_collections("c", Groups=[{"GroupId": "New"}])]
    )
    assert counts(answer) == (0, 1, 1, 0)
    back = read(client, tenant, "c")
    assert back["Meta"]["IsDeleted"] is False
    assert [g["GroupId"] for g in back["Groups"]] == ["New"]


def test_create_then_delete_in_one_request_leaves_a_deleted_contact(client, tenant):
    answer = push(client, tenant, [person("c", FirstName="Brief"), deletion("c")])
    assert counts(answer) == (1, 0, 1, 0)
    assert client.get("/v2/contacts/c", headers=tenant.headers).status_code == 404
    back = read(client, tenant, "c", includeDeleted="true")
    assert (back["Meta"]["IsDeleted"], back["ContactDetails"]["FirstName"]) == (True, "Brief")


# -- warnings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["ParentContactId", "PrimaryContactContactId"])
def test_unknown_referenced_contact_is_a_warning(client, tenant, reference):
    answer = push(client, tenant, [person("x"), person("c", **{reference: "nobody"})])
    assert counts(answer) == (2, 0, 0, 0)
    assert warning_paths(answer) == [(1, f"ContactDetails.{reference}")]
    assert "nobody" in answer["warnings"][0]["message"]
    assert read(client, tenant, "c")["ContactDetails"][reference] == "nobody"


@pytest.mark.parametrize("reference", ["ParentContactId", "PrimaryContactContactId"])
def test_referenced_contact_in_the_batch_or_stored_needs_no_warning(client, tenant, reference):
    push(client, tenant, [person("stored")])
    records = [
        person("a", **{reference: "later"}),
        person("b", **{reference: "stored"}),
        person("later", **{reference: "a"}),
        person("self", **{reference: "self"}),
    ]
    assert push(client, tenant, records)["warnings"] == []


def test_malformed_email_is_a_warning_and_still_stored(client, tenant):
    record = with_collections(
        "c",
        EmailAddresses=[{"EmailAddress": "ok@example.org"}, {"EmailAddress": "not an email"}],
    )
    record["ContactDetails"]["PrimaryEmailAddress"] = "missing-at.example.org"
    answer = push(client, tenant, [person("x"), record])
    assert sorted(warning_paths(answer)) == [
        (1, "ContactDetails.PrimaryEmailAddress"),
        (1, "EmailAddresses[1].EmailAddress"),
    ]
    back = read(client, tenant, "c")
    assert back["EmailAddresses"][1]["EmailAddress"] == "not an email"
    assert back["ContactDetails"]["PrimaryEmailAddress"] == "missing-at.example.org"


def test_unknown_properties_are_warnings_at_their_paths(client, tenant):
    record = with_collections("c", Groups=[{"GroupId": "G"}, {"GroupId": "H", "Colour": "red"}])
    record["ContactDetails"]["Nickname"] = "Nick"
    record["Extra"] = {"a": 1}
    answer = push(client, tenant, [record])
    assert counts(answer) == (1, 0, 0, 0)
    assert sorted(warning_paths(answer)) == [
        (0, "ContactDetails.Nickname"),
        (0, "Extra"),
        (0, "Groups[1].Colour"),
    ]
    back = read(client, tenant, "c")
    assert "Nickname" not in back["ContactDetails"]
    assert "Extra" not in back


def test_read_back_with_meta_pushed_again_is_unchanged_with_one_warning(client, tenant):
    push(client, tenant, [with_collections("c", Groups=ENTRIES["Groups"][0])])
    back = read(client, tenant, "c")
    answer = push(client, tenant, [back])
    assert counts(answer) == (0, 0, 0, 1)
    assert warning_paths(answer) == [(0, "Meta")]


def test_nul_character_is_never_a_server_error(client, tenant):
    records = [
        person("c", FirstName="a\x00b"),
        with_collections("d", Groups=[{"GroupId": "G", "Role": "r\x00", "GroupName": "n\x00"}]),
    ]
    response = post(client, tenant, records)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert read(client, tenant, "c")["ContactDetails"]["FirstName"] == "a\x00b"
        assert read(client, tenant, "d")["Groups"][0]["Role"] == "r\x00"


def test_a_property_given_in_two_letter_cases_is_a_warning_and_the_last_value_is_kept(
    client, tenant
):
    record = {"ContactDetails": {"ContactId": "c", "LastName": "Doe", "lastname": "Roe"}}
    answer = push(client, tenant, [record])
    assert warning_paths(answer) == [(0, "ContactDetails.lastname")]
    assert "given more than once" in answer["warnings"][0]["message"]
    assert read(client, tenant, "c")["ContactDetails"]["LastName"] == "Roe"
