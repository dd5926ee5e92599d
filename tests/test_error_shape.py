"""The one error body of the API (SPEC 3), pinned for every status it is used with.

`{"error": code, "message": text, "requestId": id}`, plus `errors` for validation_failed only;
FastAPI's `{"detail": ...}` never appears.
"""

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import pushapi.errors
import pushapi.routes.push
import pushapi.store.contacts
from pushapi.errors import ApiError

PUSH = "/v2/contactinfo"
SHAPE = {"error", "message", "requestId"}
VALID = [{"ContactDetails": {"ContactId": "c1", "LastName": "Shape"}}]


@dataclasses.dataclass
class Situation:
    """Everything a case needs to provoke its error."""

    client: TestClient
    make_client: Callable[..., TestClient]
    make_tenant: Callable[..., Any]
    monkeypatch: pytest.MonkeyPatch

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.make_tenant().headers)


def _fail(*args: object) -> None:
    raise RuntimeError("SELECT secret FROM internals")


def _platform_403(s: Situation) -> httpx.Response:
    # No ContactInfo push is refused by platform today; restrict the endpoint to provoke one.
    endpoints = tuple(
        dataclasses.replace(e, platforms=("marketing-pro",)) if e.name == "contactinfo" else e
        for e in pushapi.routes.push.PUSH_ENDPOINTS
    )
    s.monkeypatch.setattr(pushapi.routes.push, "PUSH_ENDPOINTS", endpoints)
    return s.make_client().post(PUSH, json=VALID, headers=s.headers)


def _rate_limited_429(s: Situation) -> httpx.Response:
    limited, headers = s.make_client(rate_limit_per_minute=1), s.headers
    limited.post(PUSH, json=[], headers=headers)
    return limited.post(PUSH, json=[], headers=headers)


def _internal_500(s: Situation) -> httpx.Response:
    s.monkeypatch.setattr(pushapi.store.contacts, "apply_group_attributes", _fail)
    return s.client.post(PUSH, json=VALID, headers=s.headers)


CASES: dict[str, tuple[int, str, Callable[[Situation], httpx.Response]]] = {
    "not-json": (
        400,
        "invalid_body",
        lambda s: s.client.post(PUSH, content=b"{", headers=s.headers),
    ),
    "invalid-record": (
        400,
        "validation_failed",
        lambda s: s.client.post(PUSH, json=[{"ContactDetails": {}}], headers=s.headers),
    ),
    "bad-cursor": (
        400,
        "invalid_parameter",
        lambda s: s.client.get("/v2/pushes?cursor=%%%", headers=s.headers),
    ),
    "bad-limit": (
        400,
        "invalid_parameter",
        lambda s: s.client.get("/v2/pushes?limit=many", headers=s.headers),
    ),
    "no-key": (401, "unauthorized", lambda s: s.client.post(PUSH, json=VALID)),
    "platform": (403, "not_supported_for_platform", _platform_403),
    "unknown-route": (404, "not_found", lambda s: s.client.get("/v2/nothing-here")),
    "unknown-push": (
        404,
        "not_found",
        lambda s: s.client.get("/v2/pushes/01aaaaaaaaaaaaaaaaaaaaaaaa", headers=s.headers),
    ),
    "method": (405, "method_not_allowed", lambda s: s.client.delete(PUSH, headers=s.headers)),
    "too-many-records": (
        413,
        "payload_too_large",
        lambda s: s.make_client(max_records=1).post(PUSH, json=VALID * 2, headers=s.headers),
    ),
    "content-type": (
        415,
        "unsupported_media_type",
        lambda s: s.client.post(PUSH, content=b"[]", headers={**s.headers, "Content-Type": "a/b"}),
    ),
    "region": (
        421,
        "wrong_region",
        lambda s: s.client.post(PUSH, json=VALID, headers=s.make_tenant(region="ca").headers),
    ),
    "rate-limit": (429, "rate_limited", _rate_limited_429),
    "internal": (500, "internal_error", _internal_500),
}


@pytest.mark.parametrize("case", CASES)
def test_error_body_has_the_one_shape(client, make_client, make_tenant, monkeypatch, case):
    status, code, provoke = CASES[case]
    response = provoke(Situation(client, make_client, make_tenant, monkeypatch))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    expected_keys = SHAPE | {"errors", "warnings"} if code == "validation_failed" else SHAPE
    assert set(body) == expected_keys, body
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"].strip()
    assert body["requestId"] == response.headers["x-request-id"]
    assert "detail" not in response.text


def test_validation_errors_are_index_path_message_objects(client, tenant):
    response = client.post(
        PUSH, json=[{"ContactDetails": {"ContactId": 5}}], headers=tenant.headers
    )
    errors = response.json()["errors"]
    assert errors and all(set(error) == {"index", "path", "message"} for error in errors)
    assert all(type(e["index"]) is int and isinstance(e["path"], str) for e in errors)


def test_error_hierarchy_docstring_names_every_error_with_status_and_code():
    """The diagram in errors.py is the reference for codes; it must not drift from the classes."""
    doc = pushapi.errors.__doc__ or ""
    classes = [ApiError, *ApiError.__subclasses__()]
    for cls in classes:
        line = re.search(rf"\b{cls.__name__}\b\s+(\d+)\s+(\w+)", doc)
        assert line, f"{cls.__name__} missing from the errors.py diagram"
        assert (int(line.group(1)), line.group(2)) == (cls.status, cls.code)
