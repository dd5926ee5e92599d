"""The /docs page in a real browser (tests/support/browser.py): Swagger UI renders every
endpoint from /openapi.json, with every script and style served by pushapi itself (no CDN)."""

from urllib.parse import urlparse

import httpx
import pytest
from support.browser import chromium


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def test_docs_page_renders_every_endpoint_from_local_assets(start_server, browser, tmp_path):
    server = start_server()
    paths = httpx.get(f"{server.base_url}/openapi.json").json()["paths"]
    page = browser.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
    page.goto(f"{server.base_url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    shown = {
        element.get_attribute("data-path")
        for element in page.query_selector_all(".opblock-summary-path")
    }
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    assert shown == set(paths)
    assert "/v2/contactinfo" in shown
    assert hosts == {urlparse(server.base_url).netloc}


def test_docs_assets_are_served_and_a_missing_one_is_the_json_404(client):
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text[:2000]
    missing = client.get("/docs/assets/no-such-file.js")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert missing.headers["x-request-id"] == missing.json()["requestId"]
