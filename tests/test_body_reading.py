"""Bodies at the edges of JSON: a push body is split by msgspec and its records read by the
compiled reader or by json.loads; every edge gets the answer json.loads alone gives (SPEC 3)."""

from typing import Any

from test_http_contract import assert_error

PUSH = "/v2/contactinfo"
SURROGATE = "\ud800".encode("utf-8", "surrogatepass")  # not UTF-8: a surrogate's bytes


def post(client: Any, tenant: Any, body: bytes) -> Any:
    return client.post(PUSH, content=body, headers=tenant.headers)


def test_a_surrogate_written_as_raw_bytes_in_a_value_is_a_400_naming_the_field(client, tenant):
    body = b'[{"ContactDetails": {"ContactId": "a", "LastName": "x' + SURROGATE + b'"}}]'
    error = assert_error(post(client, tenant, body), 400, "validation_failed")
    assert [(e["index"], e["path"]) for e in error["errors"]] == [(0, "ContactDetails.LastName")]
    assert "surrogate" in error["errors"][0]["message"]


def test_a_surrogate_written_as_raw_bytes_in_a_name_is_an_unknown_property(client, tenant):
    body = b'[{"ContactDetails": {"ContactId": "a", "LastName": "x", "N' + SURROGATE + b'": 1}}]'
    response = post(client, tenant, body)
    assert response.status_code == 200, response.text
    assert [w["index"] for w in response.json()["warnings"]] == [0]
    assert response.json()["created"] == 1


def test_an_integer_of_thousands_of_digits_is_invalid_json_before_any_count(make_client, tenant):
    client = make_client(max_records=2)
    record = b'{"ContactDetails": {"ContactId": "a", "LastName": "x"}}'
    body = b"[" + b",".join([record] * 3) + b',{"x": ' + b"9" * 5000 + b"}]"
    error = assert_error(post(client, tenant, body), 400, "invalid_body")
    assert error["message"].startswith("body is not valid JSON")
    body = b'[1, {"x": ' + b"9" * 5000 + b"}]"
    error = assert_error(post(client, tenant, body), 400, "invalid_body")
    assert error["message"].startswith("body is not valid JSON")


def test_a_number_past_what_a_decimal_holds_is_invalid_json_not_a_500(client, tenant):
    for field in (b'"Latitude": 1e9999999999999999999', b'"Unknown": 1e9999999999999999999'):
        body = b'[{"ContactDetails": {"ContactId": "a", "LastName": "x"}, "Addresses": [{'
        body += field + b"}]}]"
        error = assert_error(post(client, tenant, body), 400, "invalid_body")
        assert error["message"].startswith("body is not valid JSON")


def test_a_body_nested_too_deeply_is_refused_whichever_reader_meets_it(client, tenant):
    for depth in (1500, 5000):
        deep = b"[" * depth + b"]" * depth
        body = b'[{"ContactDetails": {"ContactId": "a", "LastName": "x"}, "Extra": ' + deep + b"}]"
        error = assert_error(post(client, tenant, body), 400, "invalid_body")
        assert error["message"] == "body is nested too deeply"
