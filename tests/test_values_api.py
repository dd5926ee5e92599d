"""How values are read (SPEC 3.1), observed end to end on /v2/contactinfo and read back with
GET /v2/contacts/{ContactId}, on every engine.

Read-back bodies are parsed with `parse_float=Decimal`, so a decimal is compared digit for digit.
"""

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

REFERENCE_FORMATS = ("yyyy-MM-ddTHH:mm:ss.fffZ", "yyyy-MM-ddTHH:mm:ss.fffzzz")


def contact(contact_id: str, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Doe", **details}}


def push(client, tenant, records: Any):
    return client.post("/v2/contactinfo", json=records, headers=tenant.headers)


def push_bytes(client, tenant, body: bytes):
    return client.post("/v2/contactinfo", content=body, headers=tenant.headers)


def read_back(client, tenant, contact_id: str) -> dict[str, Any]:
    response = client.get(f"/v2/contacts/{quote(contact_id, safe='')}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal)


def issues(response, key: str) -> dict[tuple[int, str], str]:
    return {(i["index"], i["path"]): i["message"] for i in response.json()[key]}


def test_every_invalid_value_is_a_400_with_index_path_and_message(client, tenant, snapshot):
    before = snapshot(tenant)
    records = [
        contact("C-ok"),
        contact("C-1", FirstName=5, Age="abc", Birthday="2023-02-30", IsMember="yes"),
        {
            **contact("C-2", MemberSince="2023-05-06 07:08:09Z"),
            "Addresses": [{"Latitude": 45}, {"Latitude": 90.5, "Longitude": "east"}],
            "Orders": [{"OrderId": "O-1", "ProductId": "P-1", "Quantity": "1.5"}],
        },
        contact("C-3", Age=2147483648, DoNotEmail=1, Title=["Dr"]),
    ]
    response = push(client, tenant, records)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "validation_failed"
    assert body["requestId"] == response.headers["X-Request-Id"]
    errors = issues(response, "errors")
    assert set(errors) == {
        (1, "ContactDetails.FirstName"),
        (1, "ContactDetails.Age"),
        (1, "ContactDetails.Birthday"),
        (1, "ContactDetails.IsMember"),
        (2, "ContactDetails.MemberSince"),
        (2, "Addresses[1].Latitude"),
        (2, "Addresses[1].Longitude"),
        (2, "Orders[0].Quantity"),
        (3, "ContactDetails.Age"),
        (3, "ContactDetails.DoNotEmail"),
        (3, "ContactDetails.Title"),
    }
    assert "expected a string, got a number" in errors[1, "ContactDetails.FirstName"]
    assert "expected an integer" in errors[1, "ContactDetails.Age"]
    assert "expected true or false" in errors[1, "ContactDetails.IsMember"]
    for path in ("ContactDetails.Birthday", "ContactDetails.MemberSince"):
        where = (1 if path.endswith("Birthday") else 2, path)
        assert all(form in errors[where] for form in REFERENCE_FORMATS), errors[where]
    assert "at most 90" in errors[2, "Addresses[1].Latitude"]
    assert "2147483647" in errors[3, "ContactDetails.Age"]
    assert "got a number" in errors[3, "ContactDetails.DoNotEmail"]
    assert "got an array" in errors[3, "ContactDetails.Title"]
    assert snapshot(tenant) == before  # not even the valid record was applied


def test_warnings_are_in_the_200_body_with_index_and_path(client, tenant):
    records = [
        contact("C-1"),
        {
            **contact("C-2", Nickname="Al", Birthday="1990-01-02T03:04:05"),
            "Hobbies": [],
            "Groups": [{"GroupId": "G-1", "BeginDate": "2020-01-01T00:00:00.5", "Color": "red"}],
        },
    ]
    response = push(client, tenant, records)
    assert response.status_code == 200, response.text
    warnings = issues(response, "warnings")
    assert set(warnings) == {
        (1, "ContactDetails.Nickname"),
        (1, "ContactDetails.Birthday"),
        (1, "Hobbies"),
        (1, "Groups[0].BeginDate"),
        (1, "Groups[0].Color"),
    }
    assert "unknown property" in warnings[1, "Hobbies"]
    assert "UTC" in warnings[1, "ContactDetails.Birthday"]
    back = read_back(client, tenant, "C-2")
    assert back["ContactDetails"]["Birthday"] == "1990-01-02T03:04:05.000Z"
    assert back["Groups"][0]["BeginDate"] == "2020-01-01T00:00:00.500Z"
    assert "Nickname" not in back["ContactDetails"] and "Hobbies" not in back


def test_property_names_match_case_insensitively_and_read_back_canonical(client, tenant):
    record = {
        "contactdetails": {
            "CONTACTID": "C-1",
            "firstname": "Ada",
            "isDeleted": False,
            "ismember": True,
        },
        "addresses": [{"CITY": "Paris", "isprimary": True}],
    }
    response = push(client, tenant, [record])
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == []
    back = read_back(client, tenant, "C-1")
    assert back["ContactDetails"]["FirstName"] == "Ada"
    assert back["ContactDetails"]["IsMember"] is True
    assert back["Addresses"][0]["City"] == "Paris"
    assert back["Addresses"][0]["IsPrimary"] is True
    assert "contactdetails" not in back and "firstname" not in back["ContactDetails"]


def test_values_are_read_back_normalised(client, tenant):
    thirty_digits = "123456789012345.678901234567890"
    body = (
        '[{"ContactDetails": {"ContactId": "C-1", "LastName": "Doe", "FirstName": "  ",'
        ' "MiddleName": null, "Age": "42", "IsMember": "true", "DoNotEmail": " FALSE ",'
        ' "ExcludeFromDirectory": "True", "Birthday": "1990-01-02T03:04:05.1234567+02:00",'
        ' "MemberSince": "2020-05-06", "MemberExpiresOn": "2030-12-31t23:30:00-01:00"},'
        ' "Addresses": [{"Latitude": "45.50", "Longitude": 0.1000000000000000055511151231257827}],'
        ' "Orders": [{"OrderId": "O-1", "ProductId": "P-1", "Quantity": 62.0,'
        ' "TotalAmount": ' + thirty_digits + "}],"
        ' "Groups": null}]'
    ).encode()
    response = push_bytes(client, tenant, body)
    assert response.status_code == 200, response.text
    back = read_back(client, tenant, "C-1")
    details = back["ContactDetails"]
    assert details["FirstName"] is None and details["MiddleName"] is None
    assert details["Age"] == 42 and type(details["Age"]) is int
    assert details["IsMember"] is True
    assert details["DoNotEmail"] is False
    assert details["ExcludeFromDirectory"] is True
    assert details["Birthday"] == "1990-01-02T01:04:05.123Z"
    assert details["MemberSince"] == "2020-05-06T00:00:00.000Z"
    assert details["MemberExpiresOn"] == "2031-01-01T00:30:00.000Z"
    address = back["Addresses"][0]
    assert str(address["Latitude"]) == "45.50"
    assert str(address["Longitude"]) == "0.1000000000000000055511151231257827"
    order = back["Orders"][0]
    assert order["Quantity"] == 62 and type(order["Quantity"]) is int
    assert str(order["TotalAmount"]) == thirty_digits
    assert back["Groups"] == []


def test_normalised_read_back_pushed_again_is_unchanged(client, tenant):
    record = {
        **contact("C-1", Age=" 7 ", IsMember="TRUE", Birthday="2001-02-03T04:05:06.78901-03:00"),
        "Addresses": [{"Latitude": "-12.3400", "Longitude": 1e2}],
    }
    assert push(client, tenant, [record]).status_code == 200
    back = read_back(client, tenant, "C-1")
    del back["Meta"]
    body = json.dumps([back], default=str).encode()  # Decimals written as their exact digits
    again = push_bytes(client, tenant, body.replace(b'"-12.3400"', b"-12.3400"))
    assert again.status_code == 200, again.text
    assert again.json()["unchanged"] == 1, again.text


def test_ids_are_compared_exactly_not_trimmed_nor_case_folded(client, tenant):
    ids = ["C-1", "c-1", " C-1", "C-1 "]
    response = push(client, tenant, [contact(i, FirstName=f"#{n}") for n, i in enumerate(ids)])
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 4
    for n, contact_id in enumerate(ids):
        back = read_back(client, tenant, contact_id)
        assert back["ContactDetails"]["ContactId"] == contact_id
        assert back["ContactDetails"]["FirstName"] == f"#{n}"


@pytest.mark.parametrize(
    ("details", "path", "words"),
    [
        ({"ContactId": "x" * 257}, "ContactDetails.ContactId", "at most 256 characters"),
        ({"ContactId": 42}, "ContactDetails.ContactId", "expected a string, got a number"),
        ({"ContactId": "   "}, "ContactDetails.ContactId", "missing or blank"),
        ({"FirstName": "x" * 4001}, "ContactDetails.FirstName", "at most 4000 characters"),
        ({"Bio": "x" * 65536}, "ContactDetails.Bio", "at most 65535 characters"),
    ],
)
def test_string_and_id_limits_are_400(client, tenant, details, path, words):
    record = {"ContactDetails": {"ContactId": "C-1", "LastName": "Doe", **details}}
    response = push(client, tenant, [record])
    assert response.status_code == 400, response.text
    errors = issues(response, "errors")
    assert list(errors) == [(0, path)]  # reported once, not also as missing
    assert words in errors[0, path]


def test_strings_exactly_at_their_limits_are_stored(client, tenant):
    contact_id = "i" * 256
    record = contact(contact_id, FirstName="f" * 4000, Bio="b" * 65535)
    response = push(client, tenant, [record])
    assert response.status_code == 200, response.text
    details = read_back(client, tenant, contact_id)["ContactDetails"]
    assert (len(details["ContactId"]), len(details["FirstName"]), len(details["Bio"])) == (
        256,
        4000,
        65535,
    )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"ContactId": "C-1", "LastName": "a\\u0000b"}', "ContactDetails.LastName"),
        (b'{"ContactId": "C\\u0000", "LastName": "Doe"}', "ContactDetails.ContactId"),
        (b'{"ContactId": "C-1", "LastName": "\\ud800"}', "ContactDetails.LastName"),
    ],
)
def test_text_no_store_can_keep_is_a_400_not_a_500(client, tenant, snapshot, body, path):
    before = snapshot(tenant)
    response = push_bytes(client, tenant, b'[{"ContactDetails": ' + body + b"}]")
    assert response.status_code == 400, response.text
    assert list(issues(response, "errors")) == [(0, path)]
    assert snapshot(tenant) == before


def test_nul_after_a_recognised_record_is_a_400_naming_its_field(client, tenant, snapshot):
    # The first record is stored byte for byte already, so it is not read again; the body is
    # still looked at for escaped NULs once the second record is read.
    known = b'{"ContactDetails": {"ContactId": "C-1", "LastName": "Doe"}}'
    assert push_bytes(client, tenant, b"[" + known + b"]").status_code == 200
    before = snapshot(tenant)
    body = b"[" + known + b', {"ContactDetails": {"ContactId": "C-2", "LastName": "a\\u0000b"}}]'
    response = push_bytes(client, tenant, body)
    assert response.status_code == 400, response.text
    assert list(issues(response, "errors")) == [(1, "ContactDetails.LastName")]
    assert snapshot(tenant) == before


def test_group_attribute_with_nul_is_a_400_not_a_500(client, tenant):
    body = b'[{"ContactDetails": {"ContactId": "C-1", "LastName": "Doe"},' \
           b' "Groups": [{"GroupId": "G-1", "GroupName": "n\\u0000"}]}]'  # fmt: skip
    response = push_bytes(client, tenant, body)
    assert response.status_code == 400, response.text
    assert list(issues(response, "errors")) == [(0, "Groups[0].GroupName")]


def test_unknown_property_with_a_lone_surrogate_is_a_warning_not_a_500(client, tenant):
    body = b'[{"ContactDetails": {"ContactId": "C-1", "LastName": "Doe", "N\\udc00": 1}}]'
    response = push_bytes(client, tenant, body)
    assert response.status_code == 200, response.text
    [warning] = response.json()["warnings"]
    assert warning["path"].startswith("ContactDetails.N")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_numbers(client, tenant, literal):
    body = b'[{"ContactDetails": {"ContactId": "C-1", "LastName": "Doe"}, "Addresses":' \
           b' [{"Latitude": ' + literal.encode() + b"}]}]"  # fmt: skip
    response = push_bytes(client, tenant, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_body"


def test_decimal_strings_that_are_not_numbers_are_400(client, tenant):
    records = [
        {**contact("C-1"), "Addresses": [{"Latitude": "abc"}, {"Longitude": "NaN"}]},
        {**contact("C-2"), "Orders": [{"OrderId": "O", "ProductId": "P", "TotalAmount": True}]},
    ]
    response = push(client, tenant, records)
    assert response.status_code == 400, response.text
    errors = issues(response, "errors")
    assert set(errors) == {
        (0, "Addresses[0].Latitude"),
        (0, "Addresses[1].Longitude"),
        (1, "Orders[0].TotalAmount"),
    }
    assert all("expected a decimal number" in message for message in errors.values())


@pytest.mark.parametrize(
    ("pushed", "stored"),
    [
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00.000Z"),
        ("0001-01-01", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.9999999+01:00", "9999-12-31T22:59:59.999Z"),
    ],
)
def test_datetimes_near_the_ends_of_the_range_read_back_with_four_digit_years(
    client, tenant, pushed, stored
):
    response = push(client, tenant, [contact("C-1", Birthday=pushed)])
    assert response.status_code == 200, response.text
    assert read_back(client, tenant, "C-1")["ContactDetails"]["Birthday"] == stored
    again = read_back(client, tenant, "C-1")
    del again["Meta"]
    assert push(client, tenant, [again]).json()["unchanged"] == 1


@pytest.mark.parametrize(
    "pushed",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "2023-05-06T07:08:09+15:00"],
)
def test_datetime_offset_that_leaves_the_range_is_a_400_not_a_500(client, tenant, pushed):
    response = push(client, tenant, [contact("C-1", Birthday=pushed)])
    assert response.status_code == 400, response.text
    message = issues(response, "errors")[0, "ContactDetails.Birthday"]
    assert all(form in message for form in REFERENCE_FORMATS)


def test_wrong_container_types_are_400_at_their_paths(client, tenant):
    records = [
        {"ContactDetails": [{"ContactId": "C-1"}]},
        {**contact("C-2"), "Groups": {"GroupId": "G-1"}},
        {**contact("C-3"), "EmailAddresses": ["ada@example.org"]},
    ]
    response = push(client, tenant, records)
    assert response.status_code == 400, response.text
    errors = issues(response, "errors")
    assert list(errors) == [(0, "ContactDetails"), (1, "Groups"), (2, "EmailAddresses[0]")]
    assert "got an array" in errors[0, "ContactDetails"]
    assert "got an object" in errors[1, "Groups"]
    assert "got a string" in errors[2, "EmailAddresses[0]"]
