"""The /docs page in a real browser: Swagger UI renders every endpoint from /openapi.json, with
every script and style served by pushapi itself (no CDN).

Runs Debian's chromium through Playwright. Where /usr/bin/chromium is missing the test is skipped
with a clear reason, unless PUSHAPI_REQUIRE_BROWSER=1 (CI sets it), which makes it fail instead.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

CHROMIUM = Path(os.environ.get("PUSHAPI_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        message = f"no browser at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("PUSHAPI_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


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
