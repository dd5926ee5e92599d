"""The console (SPEC 9) in a real browser against a real server process: what an operator and a
tenant do, click by click (tests/support/browser.py: Debian's chromium through Playwright)."""

import json
import secrets
from urllib.parse import urlparse

import httpx
import pytest
from support.browser import chromium

from pushapi.store.operators import create_operator, delete_operator


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def operator(engine):
    name = f"op-{secrets.token_hex(4)}"
    yield name, create_operator(engine, name)
    delete_operator(engine, name)


def _push(base_url: str, api_key: str, records: list[dict]) -> httpx.Response:
    headers = {"ApiKey": api_key, "Content-Type": "application/json"}
    return httpx.post(f"{base_url}/v2/contactinfo", content=json.dumps(records), headers=headers)


def test_an_operator_makes_a_tenant_follows_its_pushes_and_revokes_its_key(
    start_server, browser, operator, make_tenant
):
    server = start_server()
    page = browser.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))

    page.goto(f"{server.base_url}/console/")
    operator_form = page.locator("form", has_text="Sign in as operator")
    operator_form.get_by_label("Name").fill(operator[0])
    operator_form.get_by_label("Password").fill(operator[1])
    operator_form.get_by_role("button", name="Sign in as operator").click()
    page.wait_for_url("**/console/tenants")
    assert page.get_by_role("heading", name="Tenants").is_visible()

    code = f"web-{secrets.token_hex(4)}"
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_label("Platform").select_option("community")
    page.get_by_role("button", name="Create tenant").click()
    assert page.get_by_text("This is the only time the key is shown").is_visible()
    api_key = page.get_by_label("API key").input_value()
    assert api_key.startswith("pk_")

    accepted = _push(
        server.base_url, api_key, [{"ContactDetails": {"ContactId": "W1", "FirstName": "Wes"}}]
    )
    assert accepted.status_code == 200
    bad = [
        {"ContactDetails": {"ContactId": f"W{n}", "FirstName": "Wes", "Birthday": "soon"}}
        for n in range(3)
    ]
    refused = _push(server.base_url, api_key, [*bad, {"ContactDetails": {"FirstName": "x"}}])
    assert refused.status_code == 400

    page.get_by_role("link", name=f"Go to tenant {code}").click()
    assert api_key not in page.content()  # shown once
    page.get_by_role("link", name="Push log").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 2
    assert accepted.json()["requestId"] in page.content()
    page.get_by_label("Status").select_option("refused")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("tbody tr").count() == 1
    page.locator("tbody tr a").first.click()
    errors = page.locator("h2", has_text="Errors").locator("xpath=following-sibling::div[1]")
    birthday = errors.locator("tr", has_text="ContactDetails.Birthday")
    assert birthday.locator("td").nth(1).inner_text() == "3"
    assert birthday.locator("td").nth(2).inner_text() == "0, 1, 2"
    assert (
        errors.locator("tr", has_text="ContactDetails.ContactId").locator("td").nth(2).inner_text()
        == "3"
    )

    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url(f"**/console/tenants/{code}")
    assert "revoked" in page.locator("tbody tr", has_text="pk_").first.inner_text()
    assert (
        _push(
            server.base_url, api_key, [{"ContactDetails": {"ContactId": "W1", "FirstName": "Wes"}}]
        ).status_code
        == 401
    )

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/signin")
    page.goto(f"{server.base_url}/console/tenants")
    assert page.get_by_text("Please sign in").is_visible()
    assert hosts == {urlparse(server.base_url).netloc}  # no asset from elsewhere


def test_a_tenant_signs_in_with_its_key_and_cannot_reach_another(
    start_server, browser, make_tenant
):
    server = start_server()
    mine, other = make_tenant(), make_tenant()
    assert (
        _push(
            server.base_url,
            mine.api_key,
            [{"ContactDetails": {"ContactId": "T1", "FirstName": "Tia"}}],
        ).status_code
        == 200
    )
    page = browser.new_page()
    page.goto(f"{server.base_url}/console/signin")
    tenant_form = page.locator("form", has_text="Sign in with API key")
    tenant_form.get_by_label("API key").fill(mine.api_key)
    tenant_form.get_by_role("button", name="Sign in with API key").click()
    page.wait_for_url(f"**/console/tenants/{mine.code}")
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Id, name or e-mail").fill("tia")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="T1").click()
    assert '"FirstName": "Tia"' in page.locator("pre").inner_text()
    for path in ("", "/pushes", "/contacts"):
        answer = page.goto(f"{server.base_url}/console/tenants/{other.code}{path}")
        assert answer is not None and answer.status == 404
    answer = page.goto(f"{server.base_url}/console/tenants")
    assert answer is not None and answer.status == 404


def test_the_screenshot_script_takes_every_page(tmp_path, engine_name):
    """scripts/console_screenshots.py keeps working (it makes the pictures of docs/console.md)."""
    if engine_name != "sqlite":
        pytest.skip("the script runs on its own SQLite database; once is enough")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    with chromium():  # skips, or fails in CI, without the browser
        pass
    from console_screenshots import take

    taken = take(tmp_path)
    assert {path.stem for path in taken} >= {"tenants", "tenant", "push-log", "push-detail",
                                             "contacts", "webhooks", "tenant-phone"}  # fmt: skip
    for path in taken:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5000
