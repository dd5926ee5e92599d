"""Orders in ContactInfo (SPEC 4.1): linked to products; a ProductId that is not a stored, live
product of the tenant is a warning at `Orders[i].ProductId`, never a rejection."""

from typing import Any

import pytest


def push(client: Any, tenant: Any, endpoint: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(f"/v2/{endpoint}", json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def contact_with_orders(contact_id: str, *product_ids: str) -> dict[str, Any]:
    return {
        "ContactDetails": {"ContactId": contact_id, "LastName": "Buyer"},
        "Orders": [
            {"OrderId": f"O{n}", "ProductId": product_id, "Quantity": 1, "TotalAmount": "9.90"}
            for n, product_id in enumerate(product_ids)
        ],
    }


def product_warnings(result: dict[str, Any]) -> list[tuple[int, str]]:
    return [(w["index"], w["path"]) for w in result["warnings"] if "ProductId" in w["path"]]


def test_order_of_a_known_product_has_no_warning(client, tenant):
    push(client, tenant, "product", [{"ProductId": "P1", "ProductName": "Book"}])
    result = push(client, tenant, "contactinfo", [contact_with_orders("C1", "P1", "P1")])
    assert (result["created"], result["warnings"]) == (1, [])
    orders = client.get("/v2/contacts/C1", headers=tenant.headers).json()["Orders"]
    assert [o["ProductId"] for o in orders] == ["P1", "P1"]


def test_order_of_an_unknown_product_is_stored_with_a_warning(client, tenant):
    push(client, tenant, "product", [{"ProductId": "P1", "ProductName": "Book"}])
    records = [contact_with_orders("C1", "P1", "NOPE"), contact_with_orders("C2", "ALSO-NOPE")]
    result = push(client, tenant, "contactinfo", records)
    assert result["created"] == 2
    assert product_warnings(result) == [(0, "Orders[1].ProductId"), (1, "Orders[0].ProductId")]
    assert "'NOPE'" in result["warnings"][0]["message"]
    orders = client.get("/v2/contacts/C1", headers=tenant.headers).json()["Orders"]
    assert [o["ProductId"] for o in orders] == ["P1", "NOPE"]


def test_order_of_a_deleted_product_is_a_warning(client, tenant):
    push(client, tenant, "product", [{"ProductId": "P1", "ProductName": "Book"}])
    push(client, tenant, "product", [{"ProductId": "P1", "IsDeleted": True}])
    result = push(client, tenant, "contactinfo", [contact_with_orders("C1", "P1")])
    assert product_warnings(result) == [(0, "Orders[0].ProductId")]


def test_order_of_another_tenants_product_is_a_warning(client, tenant, make_tenant):
    other = make_tenant()
    push(client, other, "product", [{"ProductId": "P1", "ProductName": "Book"}])
    result = push(client, tenant, "contactinfo", [contact_with_orders("C1", "P1")])
    assert product_warnings(result) == [(0, "Orders[0].ProductId")]


def test_order_warning_goes_once_the_product_is_pushed(client, tenant):
    first = push(client, tenant, "contactinfo", [contact_with_orders("C1", "P9")])
    assert product_warnings(first) == [(0, "Orders[0].ProductId")]
    push(client, tenant, "product", [{"ProductId": "P9", "ProductName": "Later"}])
    again = push(client, tenant, "contactinfo", [contact_with_orders("C1", "P9")])
    assert (again["unchanged"], again["warnings"]) == (1, [])


def test_deleting_a_contact_does_not_check_its_orders(client, tenant):
    push(client, tenant, "contactinfo", [{"ContactDetails": {"ContactId": "C1", "LastName": "X"}}])
    deletion = contact_with_orders("C1", "NOPE")
    deletion["ContactDetails"] = {"ContactId": "C1", "IsDeleted": True}
    result = push(client, tenant, "contactinfo", [deletion])
    assert (result["deleted"], product_warnings(result)) == (1, [])


def test_orders_on_community_essentials_are_dropped_not_checked(client, make_tenant):
    essentials = make_tenant(platform="community-essentials")
    result = push(client, essentials, "contactinfo", [contact_with_orders("C1", "NOPE")])
    assert [(w["index"], w["path"]) for w in result["warnings"]] == [(0, "Orders")]


@pytest.mark.parametrize(
    ("order", "path"),
    [
        ({"OrderId": "O1"}, "Orders[0].ProductId"),
        ({"ProductId": "P1"}, "Orders[0].OrderId"),
        ({"OrderId": "O1", "ProductId": "P1", "Quantity": -1}, "Orders[0].Quantity"),
        ({"OrderId": "O1", "ProductId": "P1", "TotalAmount": "lots"}, "Orders[0].TotalAmount"),
    ],
)
def test_invalid_order_rejects_the_push(client, tenant, snapshot, order, path):
    before = snapshot(tenant)
    record = {"ContactDetails": {"ContactId": "C1", "LastName": "X"}, "Orders": [order]}
    response = client.post("/v2/contactinfo", json=[record], headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert [e["path"] for e in response.json()["errors"]] == [path]
    assert snapshot(tenant) == before
