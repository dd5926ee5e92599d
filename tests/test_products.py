"""Products (SPEC 4.4): full replace, soft delete, Price a non-negative decimal kept exactly,
counts, and the reads of SPEC 5 (one product, the listing, includeDeleted, tenant isolation)."""

from typing import Any

import pytest

# The canonical Product fields as SPEC 4.4 spells them (written here, not taken from pushapi).
PRODUCT_FIELDS = (
    "ProductId", "ProductName", "ProductCode", "ProductType", "Description", "Price",
    "IsActive", "IsDeleted",
)  # fmt: skip

FULL_PRODUCT = {
    "ProductId": "P1",
    "ProductName": "Annual membership",
    "ProductCode": "MEM-1Y",
    "ProductType": "Membership",
    "Description": "<b>One year</b>",
    "Price": "125.50",
    "IsActive": "True",
}


def push_products(client: Any, tenant: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v2/product", json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def counts(result: dict[str, Any]) -> tuple[int, int, int, int]:
    return result["created"], result["updated"], result["deleted"], result["unchanged"]


def test_product_reads_back_in_full_shape_and_repushes_unchanged(client, tenant):
    assert counts(push_products(client, tenant, [FULL_PRODUCT])) == (1, 0, 0, 0)
    response = client.get("/v2/products/P1", headers=tenant.headers)
    body = response.json()
    assert list(body) == [*PRODUCT_FIELDS, "Meta"]
    assert (body["IsActive"], body["IsDeleted"], body["ProductCode"]) == (True, False, "MEM-1Y")
    assert '"Price":125.50' in response.text  # an exact JSON number, trailing zero kept
    # Pushed back as read (a float parser would turn 125.50 into 125.5, a different value).
    again = client.post("/v2/product", content=f"[{response.text}]", headers=tenant.headers).json()
    assert counts(again) == (0, 0, 0, 1)
    assert [w["path"] for w in again["warnings"]] == ["Meta"]


@pytest.mark.parametrize(
    ("pushed", "stored"),
    [
        ('"0"', "0"),
        ("0.1", "0.1"),
        ('"19.990"', "19.990"),
        ("12345678901234567890.123456789", "12345678901234567890.123456789"),
        ('" 7.25 "', "7.25"),
    ],
)
def test_product_price_is_kept_exactly(client, tenant, pushed, stored):
    body = f'[{{"ProductId": "P", "ProductName": "Book", "Price": {pushed}}}]'
    response = client.post("/v2/product", content=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    read = client.get("/v2/products/P", headers=tenant.headers)
    assert f'"Price":{stored},' in read.text


def test_product_price_change_is_an_update(client, tenant):
    push_products(client, tenant, [FULL_PRODUCT])
    result = push_products(client, tenant, [{**FULL_PRODUCT, "Price": 125.51}])
    assert counts(result) == (0, 1, 0, 0)


def test_product_push_is_a_full_replace(client, tenant):
    push_products(client, tenant, [FULL_PRODUCT])
    push_products(client, tenant, [{"ProductId": "P1", "ProductName": "Renamed"}])
    body = client.get("/v2/products/P1", headers=tenant.headers).json()
    assert body["ProductName"] == "Renamed"
    assert all(body[name] is None for name in PRODUCT_FIELDS[2:-1])


@pytest.mark.parametrize(
    ("record", "path"),
    [
        ({"ProductName": "No id"}, "ProductId"),
        ({"ProductId": "P2"}, "ProductName"),
        ({"ProductId": "P2", "ProductName": ""}, "ProductName"),
        ({"ProductId": "P2", "ProductName": "Book", "Price": -0.01}, "Price"),
        ({"ProductId": "P2", "ProductName": "Book", "Price": "-5"}, "Price"),
        ({"ProductId": "P2", "ProductName": "Book", "Price": "ten"}, "Price"),
        ({"ProductId": "P2", "ProductName": "Book", "Price": True}, "Price"),
        ({"ProductId": "P2", "ProductName": "Book", "IsActive": "yes"}, "IsActive"),
        ({"ProductId": "P2", "ProductName": "Book", "ProductCode": 7}, "ProductCode"),
        ({"ProductId": "P2", "ProductName": "Book", "Price": "0.00"}, None),  # control: valid
    ],
)
def test_product_field_rules_reject_and_change_nothing(client, tenant, snapshot, record, path):
    push_products(client, tenant, [FULL_PRODUCT])
    before = snapshot(tenant)
    records = [{**FULL_PRODUCT, "ProductName": "Changed"}, record]
    response = client.post("/v2/product", json=records, headers=tenant.headers)
    if path is None:
        assert response.status_code == 200, response.text
        assert counts(response.json()) == (1, 1, 0, 0)
        return
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "validation_failed"
    assert [(e["index"], e["path"]) for e in response.json()["errors"]] == [(1, path)]
    assert snapshot(tenant) == before


def test_product_soft_delete_needs_only_the_id(client, tenant):
    push_products(client, tenant, [FULL_PRODUCT])
    result = push_products(client, tenant, [{"ProductId": "P1", "IsDeleted": "true"}])
    assert (counts(result), result["warnings"]) == ((0, 0, 1, 0), [])
    assert client.get("/v2/products/P1", headers=tenant.headers).status_code == 404
    hidden = client.get("/v2/products/P1?includeDeleted=TRUE", headers=tenant.headers).json()
    assert (hidden["IsDeleted"], hidden["ProductName"]) == (True, FULL_PRODUCT["ProductName"])
    assert counts(push_products(client, tenant, [{"ProductId": "P1", "IsDeleted": True}])) == (
        0,
        0,
        0,
        1,
    )
    restored = push_products(client, tenant, [FULL_PRODUCT])
    assert counts(restored) == (0, 1, 0, 0)
    assert client.get("/v2/products/P1", headers=tenant.headers).json()["IsDeleted"] is False


def test_product_delete_unknown_is_unchanged_with_a_warning(client, tenant):
    result = push_products(client, tenant, [{"ProductId": "ghost", "IsDeleted": True}])
    assert counts(result) == (0, 0, 0, 1)
    assert [(w["index"], w["path"]) for w in result["warnings"]] == [(0, "ProductId")]


def test_product_created_and_deleted_in_one_push(client, tenant):
    records = [FULL_PRODUCT, {"ProductId": "P1", "IsDeleted": True}]
    result = push_products(client, tenant, records)
    assert counts(result) == (1, 0, 1, 0)
    assert client.get("/v2/products/P1", headers=tenant.headers).status_code == 404
    assert client.get("/v2/products/P1?includeDeleted=true", headers=tenant.headers).json()[
        "IsDeleted"
    ]


def test_products_listing_pages_and_hides_deleted(client, tenant):
    push_products(
        client, tenant, [{"ProductId": f"P{n}", "ProductName": f"Item {n}"} for n in range(1, 5)]
    )
    push_products(client, tenant, [{"ProductId": "P2", "IsDeleted": True}])
    first = client.get("/v2/products", params={"limit": 2}, headers=tenant.headers).json()
    assert [p["ProductId"] for p in first["items"]] == ["P1", "P3"]
    rest = client.get(
        "/v2/products", params={"limit": 2, "cursor": first["nextCursor"]}, headers=tenant.headers
    ).json()
    assert ([p["ProductId"] for p in rest["items"]], rest["nextCursor"]) == (["P4"], None)
    everything = client.get("/v2/products?includeDeleted=true", headers=tenant.headers).json()
    assert [p["ProductId"] for p in everything["items"]] == ["P1", "P2", "P3", "P4"]


def test_another_tenants_product_is_404_and_not_listed(client, tenant, make_tenant):
    push_products(client, tenant, [FULL_PRODUCT])
    other = make_tenant()
    response = client.get("/v2/products/P1?includeDeleted=true", headers=other.headers)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert client.get("/v2/products", headers=other.headers).json()["items"] == []
