"""The contact read API (SPEC 5): one contact in its full ContactInfo shape, the keyset-paginated
listing with modifiedSince and includeDeleted, and tenant isolation."""

import json
import random
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushapi.store import contact_reads
from pushapi.store.documents import dump_document, load_json

# The canonical field names of every object of a ContactInfo record, as the public reference and
# SPEC 4.1 spell them; written here, not taken from pushapi, so the shape is checked independently.
CONTACT_INFO_FIELDS: dict[str, tuple[str, ...]] = {
    "ContactDetails": (
        "ContactId", "Age", "ContactType", "Birthday", "MemberSince", "MemberExpiresOn",
        "Designation", "PrimaryEmailAddress", "Prefix", "FirstName", "MiddleName", "LastName",
        "InformalName", "Gender", "Ethnicity", "Suffix", "OrganizationName", "Title",
        "ParentContactId", "PrimaryContactContactId", "ExcludeFromDirectory", "DoNotEmail",
        "IsMember", "IsOrganization", "AlternativeContactId", "Bio", "WebsiteURL",
        "ProfileImageURL", "FacebookURL", "TwitterURL", "LinkedinURL", "BloggerURL",
        "OtherSocialURL", "IsDeleted",
    ),
    "Groups": (
        "InitialJoinDate", "BeginDate", "EndDate", "GroupId", "GroupName", "GroupType",
        "GroupSubType", "Role",
    ),
    "Demographics": ("DemographicName", "DemographicValue"),
    "Education": (
        "InstitutionName", "Degree", "FieldOfStudy", "StartDate", "EndDate", "GraduationDate",
    ),
    "JobHistory": ("CompanyName", "Title", "StartDate", "EndDate", "IsCurrent"),
    "Addresses": (
        "AddressName", "AddressLine1", "AddressLine2", "AddressLine3", "City", "StateProvince",
        "PostalCode", "CountryCode", "AddressType", "Latitude", "Longitude", "DoNotPublish",
        "IsBill", "IsShip", "IsMail", "IsPrimary",
    ),
    "PhoneNumbers": (
        "FormattedNumber", "PhoneType", "IsPreferred", "IsSmsPreferred", "DoNotPublish",
    ),
    "EmailAddresses": ("EmailAddress", "EmailType", "IsPreferred", "DoNotPublish"),
    "Orders": ("OrderId", "ProductId", "OrderDate", "Quantity", "TotalAmount", "Status"),
}  # fmt: skip
COLLECTIONS = tuple(name for name in CONTACT_INFO_FIELDS if name != "ContactDetails")
MILLIS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def push(client: Any, tenant: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v2/contactinfo", json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def quoted(identifier: str) -> str:
    """An id as one path segment; dots too, so that an id like ".." is not a relative path."""
    return quote(identifier, safe="").replace(".", "%2E")


def contact_path(contact_id: str) -> str:
    return f"/v2/contacts/{quoted(contact_id)}"


def person(contact_id: str, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Doe", **details}}


def list_all(client: Any, tenant: Any, **params: Any) -> list[dict[str, Any]]:
    """Every item of GET /v2/contacts, following nextCursor page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v2/contacts", params=query, headers=tenant.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextCursor"}
        items.extend(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def utc_millis(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["requestId"] == response.headers["X-Request-Id"]


FULL_PUSH: dict[str, Any] = {
    "ContactDetails": {
        "ContactId": "C-1", "Age": "41", "ContactType": "Individual",
        "Birthday": "1984-02-29", "MemberSince": "2013-05-02T09:50:28.2285-07:00",
        "MemberExpiresOn": "2030-12-31T23:59:59Z", "Designation": "CAE",
        "PrimaryEmailAddress": "ada@example.org", "Prefix": "Dr.", "FirstName": "Ada",
        "MiddleName": "K", "LastName": "Lovelace", "InformalName": "Ada", "Gender": "Female",
        "Ethnicity": "English", "Suffix": "PhD", "OrganizationName": "Analytical Engines",
        "Title": "Engineer", "ParentContactId": "C-1", "PrimaryContactContactId": "C-1",
        "ExcludeFromDirectory": "FALSE", "DoNotEmail": False, "IsMember": "true",
        "IsOrganization": False, "AlternativeContactId": "ALT-1", "Bio": "<p>Notes</p>",
        "WebsiteURL": "https://ada.example.org", "ProfileImageURL": "https://img.example.org/a",
        "FacebookURL": "https://fb.example.org/ada", "TwitterURL": "https://tw.example.org/ada",
        "LinkedinURL": "https://li.example.org/ada", "BloggerURL": "https://blog.example.org",
        "OtherSocialURL": "https://social.example.org/ada", "IsDeleted": False,
    },
    "Groups": [{
        "InitialJoinDate": "2010-01-01T00:00:00.000+01:00", "BeginDate": "2020-01-01",
        "EndDate": "2031-01-01T00:00:00.0000000Z", "GroupId": "G-1", "GroupName": "Board",
        "GroupType": "Committee", "GroupSubType": "Standing", "Role": "Chair",
    }],
    "Demographics": [{"DemographicName": "Interest", "DemographicValue": "Math"}],
    "Education": [{
        "InstitutionName": "University", "Degree": "BSc", "FieldOfStudy": "Mathematics",
        "StartDate": "1832-09-01", "EndDate": "1835-06-30", "GraduationDate": "1835-06-30",
    }],
    "JobHistory": [{
        "CompanyName": "Engines Ltd", "Title": "Analyst", "StartDate": "1842-01-01",
        "EndDate": "1843-12-31", "IsCurrent": False,
    }],
    "Addresses": [{
        "AddressName": "Home", "AddressLine1": "1 Main St", "AddressLine2": "Suite 2",
        "AddressLine3": "Floor 3", "City": "London", "StateProvince": "LDN",
        "PostalCode": "W1", "CountryCode": "GB", "AddressType": "Home",
        "Latitude": "51.5072178", "Longitude": -0.1275862, "DoNotPublish": True,
        "IsBill": True, "IsShip": False, "IsMail": True, "IsPrimary": True,
    }],
    "PhoneNumbers": [{
        "FormattedNumber": "+44 20 7946 0000", "PhoneType": "Mobile", "IsPreferred": True,
        "IsSmsPreferred": "True", "DoNotPublish": False,
    }],
    "EmailAddresses": [{
        "EmailAddress": "ada@example.org", "EmailType": "Work", "IsPreferred": True,
        "DoNotPublish": False,
    }],
    "Orders": [{
        "OrderId": "O-1", "ProductId": "P-1", "OrderDate": "2024-03-04T05:06:07.8Z",
        "Quantity": 2, "TotalAmount": "19.90", "Status": "Paid",
    }],
}  # fmt: skip

FULL_READ_BACK = {
    "ContactDetails": {
        **FULL_PUSH["ContactDetails"],
        "Age": 41, "Birthday": "1984-02-29T00:00:00.000Z",
        "MemberSince": "2013-05-02T16:50:28.228Z", "MemberExpiresOn": "2030-12-31T23:59:59.000Z",
        "ExcludeFromDirectory": False, "IsMember": True,
    },
    "Groups": [{
        **FULL_PUSH["Groups"][0],
        "InitialJoinDate": "2009-12-31T23:00:00.000Z", "BeginDate": "2020-01-01T00:00:00.000Z",
        "EndDate": "2031-01-01T00:00:00.000Z",
    }],
    "Demographics": FULL_PUSH["Demographics"],
    "Education": [{
        **FULL_PUSH["Education"][0],
        "StartDate": "1832-09-01T00:00:00.000Z", "EndDate": "1835-06-30T00:00:00.000Z",
        "GraduationDate": "1835-06-30T00:00:00.000Z",
    }],
    "JobHistory": [{
        **FULL_PUSH["JobHistory"][0],
        "StartDate": "1842-01-01T00:00:00.000Z", "EndDate": "1843-12-31T00:00:00.000Z",
    }],
    "Addresses": [{
        **FULL_PUSH["Addresses"][0],
        "Latitude": Decimal("51.5072178"), "Longitude": Decimal("-0.1275862"),
    }],
    "PhoneNumbers": [{**FULL_PUSH["PhoneNumbers"][0], "IsSmsPreferred": True}],
    "EmailAddresses": FULL_PUSH["EmailAddresses"],
    "Orders": [{
        **FULL_PUSH["Orders"][0],
        "OrderDate": "2024-03-04T05:06:07.800Z", "TotalAmount": Decimal("19.90"),
    }],
}  # fmt: skip


def read_exact(response: Any) -> dict[str, Any]:
    """A response body with its decimals read exactly."""
    return dict(json.loads(response.text, parse_float=Decimal))


def test_read_back_is_the_full_normalised_contact_info_with_meta(client, tenant):
    before = datetime.now(UTC).replace(microsecond=0)
    push(client, tenant, [FULL_PUSH])
    after = datetime.now(UTC)
    response = client.get("/v2/contacts/C-1", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = read_exact(response)
    meta = body.pop("Meta")
    assert body == FULL_READ_BACK
    assert set(meta) == {"CreatedAt", "UpdatedAt", "IsDeleted"}
    assert meta["IsDeleted"] is False
    assert meta["CreatedAt"] == meta["UpdatedAt"]
    assert MILLIS_UTC.fullmatch(meta["CreatedAt"])
    assert utc_millis(before) <= meta["CreatedAt"] <= utc_millis(after)


def test_read_back_lists_every_canonical_field_as_null_when_absent(client, tenant):
    push(client, tenant, [{"contactdetails": {"contactid": "min", "lastname": "Only"}}])
    body = client.get("/v2/contacts/min", headers=tenant.headers).json()
    assert set(body) == {*CONTACT_INFO_FIELDS, "Meta"}
    expected_details = dict.fromkeys(CONTACT_INFO_FIELDS["ContactDetails"])
    expected_details |= {"ContactId": "min", "LastName": "Only", "IsDeleted": False}
    assert body["ContactDetails"] == expected_details
    assert list(body["ContactDetails"]) == list(CONTACT_INFO_FIELDS["ContactDetails"])
    for name in COLLECTIONS:
        assert body[name] == [], name


def test_read_back_entries_of_every_collection_carry_every_canonical_field(client, tenant):
    record: dict[str, Any] = person("shape")
    required = {
        "Groups": {"GroupId": "g"},
        "Demographics": {"DemographicName": "d"},
        "Education": {"InstitutionName": "i"},
        "JobHistory": {"CompanyName": "c"},
        "Addresses": {"City": "x"},
        "PhoneNumbers": {"PhoneType": "x"},
        "EmailAddresses": {"EmailAddress": "a@example.org"},
        "Orders": {"OrderId": "o", "ProductId": "p"},
    }
    for name, entry in required.items():
        record[name] = [entry]
    push(client, tenant, [record])
    body = client.get("/v2/contacts/shape", headers=tenant.headers).json()
    for name, entry in required.items():
        assert body[name] == [dict.fromkeys(CONTACT_INFO_FIELDS[name]) | entry], name


@pytest.mark.parametrize(
    "contact_id",
    ["a/b/c", "with space", "trailing space ", "ünïcødé-名前", "100%", "q?x=1&y", "hash#tag",
     "plus+sign", "semi;colon", "new\nline", "trailing newline\n", ".", "..", "a/../b",
     "tab\there"],
)  # fmt: skip
def test_contact_ids_with_reserved_characters_read_back_by_url_encoded_path(
    client, tenant, contact_id
):
    push(client, tenant, [person(contact_id, FirstName="Target"), person("a", FirstName="Other")])
    response = client.get(contact_path(contact_id), headers=tenant.headers)
    assert response.status_code == 200, response.text
    details = response.json()["ContactDetails"]
    assert (details["ContactId"], details["FirstName"]) == (contact_id, "Target")


def test_unknown_contact_is_404_with_the_error_shape(client, tenant):
    push(client, tenant, [person("known")])
    assert_error(client.get("/v2/contacts/unknown", headers=tenant.headers), 404, "not_found")
    assert_error(client.get("/v2/contacts/KNOWN", headers=tenant.headers), 404, "not_found")


def test_another_tenants_contact_is_404_and_never_the_data(client, make_tenant):
    owner, other = make_tenant(), make_tenant()
    push(client, owner, [person("shared-id", FirstName="SecretName")])
    response = client.get("/v2/contacts/shared-id", headers=other.headers)
    assert_error(response, 404, "not_found")
    assert "SecretName" not in response.text
    deleted_too = client.get(
        "/v2/contacts/shared-id", params={"includeDeleted": "true"}, headers=other.headers
    )
    assert_error(deleted_too, 404, "not_found")
    assert list_all(client, other, includeDeleted="true") == []
    assert [c["ContactDetails"]["FirstName"] for c in list_all(client, owner)] == ["SecretName"]


def test_same_contact_id_in_two_tenants_reads_back_each_tenants_own_record(client, make_tenant):
    first, second = make_tenant(), make_tenant()
    push(client, first, [person("same", FirstName="First")])
    push(client, second, [person("same", FirstName="Second")])
    for owner, name in ((first, "First"), (second, "Second")):
        body = client.get("/v2/contacts/same", headers=owner.headers).json()
        assert body["ContactDetails"]["FirstName"] == name


def test_listing_pages_visit_every_contact_once_in_contact_id_order(client, tenant):
    ids = [f"C-{n:03d}" for n in range(25)]
    shuffled = random.Random(7).sample(ids, len(ids))
    push(client, tenant, [person(cid, FirstName=cid) for cid in shuffled])
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v2/contacts", params=params, headers=tenant.headers).json()
        sizes.append(len(body["items"]))
        seen.extend(item["ContactDetails"]["ContactId"] for item in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
    assert sizes == [10, 10, 5]
    assert seen == sorted(ids)


def test_listing_with_ids_differing_in_case_and_punctuation_visits_each_once(client, tenant):
    ids = ["a", "A", "a-b", "ab", "a b", "a/b", "B", "b", "_x", "ü", "Z9", "z10", "0", "~"]
    push(client, tenant, [person(cid) for cid in ids])
    seen = [item["ContactDetails"]["ContactId"] for item in list_all(client, tenant, limit=2)]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


def test_listing_items_have_the_same_shape_as_a_single_read(client, tenant):
    push(client, tenant, [FULL_PUSH])
    listed = json.loads(client.get("/v2/contacts", headers=tenant.headers).text)["items"]
    single = json.loads(client.get("/v2/contacts/C-1", headers=tenant.headers).text)
    assert listed == [single]


def test_listing_default_page_is_100_contacts(client, tenant):
    push(client, tenant, [person(f"D{n:03d}") for n in range(101)])
    body = client.get("/v2/contacts", headers=tenant.headers).json()
    assert len(body["items"]) == 100
    assert body["nextCursor"] is not None
    rest = client.get(
        "/v2/contacts", params={"cursor": body["nextCursor"]}, headers=tenant.headers
    ).json()
    assert [c["ContactDetails"]["ContactId"] for c in rest["items"]] == ["D100"]
    assert rest["nextCursor"] is None


def test_listing_of_an_empty_tenant_is_one_empty_last_page(client, tenant):
    body = client.get("/v2/contacts", headers=tenant.headers).json()
    assert body == {"items": [], "nextCursor": None}


def test_listing_exactly_one_full_page_has_no_next_cursor(client, tenant):
    push(client, tenant, [person(f"E{n}") for n in range(5)])
    body = client.get("/v2/contacts", params={"limit": 5}, headers=tenant.headers).json()
    assert len(body["items"]) == 5
    assert body["nextCursor"] is None


def test_modified_since_lists_only_contacts_changed_since_then(client, tenant):
    push(client, tenant, [person("old-1"), person("old-2"), person("touched")])
    time.sleep(0.02)
    since = datetime.now(UTC)
    time.sleep(0.02)
    push(client, tenant, [person("touched", FirstName="Changed"), person("new")])
    listed = list_all(client, tenant, modifiedSince=utc_millis(since))
    assert [c["ContactDetails"]["ContactId"] for c in listed] == ["new", "touched"]
    # The same instant written with an offset selects the same contacts.
    local = since.astimezone(timezone(timedelta(hours=-5, minutes=-30)))
    assert local.isoformat(timespec="milliseconds").endswith("-05:30")
    same = list_all(client, tenant, modifiedSince=local.isoformat(timespec="milliseconds"))
    assert [c["ContactDetails"]["ContactId"] for c in same] == ["new", "touched"]


def test_modified_since_ignores_an_unchanged_repush(client, tenant):
    records = [person("a", FirstName="A"), person("b", FirstName="B")]
    push(client, tenant, records)
    time.sleep(0.02)
    since = utc_millis(datetime.now(UTC))
    time.sleep(0.02)
    assert push(client, tenant, records)["unchanged"] == 2
    assert list_all(client, tenant, modifiedSince=since) == []


def test_modified_since_with_include_deleted_reports_deletions(client, tenant):
    push(client, tenant, [person("keep"), person("gone")])
    time.sleep(0.02)
    since = utc_millis(datetime.now(UTC))
    time.sleep(0.02)
    push(client, tenant, [{"ContactDetails": {"ContactId": "gone", "IsDeleted": True}}])
    assert list_all(client, tenant, modifiedSince=since) == []
    listed = list_all(client, tenant, modifiedSince=since, includeDeleted="true")
    assert [(c["ContactDetails"]["ContactId"], c["Meta"]["IsDeleted"]) for c in listed] == [
        ("gone", True)
    ]


def test_include_deleted_shows_soft_deleted_contacts_only_when_asked(client, tenant):
    push(client, tenant, [person("alive"), person("dead", FirstName="Kept")])
    push(client, tenant, [{"ContactDetails": {"ContactId": "dead", "IsDeleted": True}}])
    ids = [c["ContactDetails"]["ContactId"] for c in list_all(client, tenant)]
    assert ids == ["alive"]
    ids = [
        c["ContactDetails"]["ContactId"] for c in list_all(client, tenant, includeDeleted="false")
    ]
    assert ids == ["alive"]
    listed = list_all(client, tenant, includeDeleted="TRUE")
    assert [c["ContactDetails"]["ContactId"] for c in listed] == ["alive", "dead"]
    dead = listed[1]
    assert dead["Meta"]["IsDeleted"] is True
    assert dead["ContactDetails"]["IsDeleted"] is True
    assert dead["ContactDetails"]["FirstName"] == "Kept"


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"limit": "-1"}, {"limit": "1.5"},
     {"cursor": "not-a-cursor"}, {"cursor": "!!!"}, {"modifiedSince": "yesterday"},
     {"modifiedSince": "2024-13-01"}, {"includeDeleted": "maybe"}],
)  # fmt: skip
def test_bad_listing_parameter_is_400_invalid_parameter(client, tenant, params):
    push(client, tenant, [person("a")])
    response = client.get("/v2/contacts", params=params, headers=tenant.headers)
    assert_error(response, 400, "invalid_parameter")
    assert next(iter(params)) in response.json()["message"]


def test_limit_bounds_1_and_1000_are_accepted(client, tenant):
    push(client, tenant, [person("a"), person("b")])
    for limit, expected in ((1, ["a"]), (1000, ["a", "b"])):
        response = client.get("/v2/contacts", params={"limit": limit}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert [c["ContactDetails"]["ContactId"] for c in response.json()["items"]] == expected


def test_include_deleted_on_a_single_read_must_be_a_boolean(client, tenant):
    push(client, tenant, [person("a")])
    response = client.get(
        "/v2/contacts/a", params={"includeDeleted": "yes"}, headers=tenant.headers
    )
    assert_error(response, 400, "invalid_parameter")


def test_reads_need_a_valid_api_key(client, tenant):
    push(client, tenant, [person("a")])
    for path in ("/v2/contacts", "/v2/contacts/a"):
        assert_error(client.get(path), 401, "unauthorized")
        assert_error(client.get(path, headers={"ApiKey": "pk_wrong"}), 401, "unauthorized")


@settings(max_examples=300, deadline=None, database=None)
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.decimals(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_stored_documents_are_read_back_as_load_json_reads_them(value: Any) -> None:
    """contact_reads decodes stored documents with msgspec: the same values, of the same types,
    in the same key order as documents.load_json (decimals exact)."""
    text = dump_document({"doc": value})
    fast, reference = contact_reads._STORED_DOCUMENT.decode(text), load_json(text)
    assert fast == reference
    assert repr(fast) == repr(reference)  # Decimal('0.10') is not Decimal('0.1'); key order
