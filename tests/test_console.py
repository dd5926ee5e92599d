"""The console (SPEC 9) over HTTP, in-process, on both engines: sign-in and sign-out, sessions,
cookies, CSRF, the lockout, tenant isolation, and what each page shows."""

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from starlette.testclient import TestClient
from support.console import form_token, new_address, sign_in

from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.console.pages import group_by_path
from pushapi.errors import Issue
from pushapi.store.operators import OperatorError, create_operator, delete_operator
from pushapi.store.tables import api_keys, console_sessions, tenants

COOKIE = "pushapi_console"


@pytest.fixture
def console(app: Any) -> Iterator[Callable[..., TestClient]]:
    """Clients of the console, each from an address of its own, not following redirects."""
    opened: list[TestClient] = []

    def make(address: str | None = None, target: Any = None) -> TestClient:
        client = TestClient(
            target or app,
            base_url="http://127.0.0.1",
            follow_redirects=False,
            raise_server_exceptions=False,
            client=(address or new_address(), 50000),
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def make_app(settings: Settings) -> Iterator[Callable[..., Any]]:
    """Apps of their own (settings changed), served without their lifespan by `console`, so
    closed here: their database pools and the lockout's Redis connections."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        made.append(create_app(settings.model_copy(update=overrides)))
        return made[-1]

    yield make
    for app in made:
        app.state.console.state.sign_in_lock.close()
        app.state.placement.dispose()
        app.state.engine.dispose()
        app.state.health_engine.dispose()


@pytest.fixture
def operator(engine: Engine) -> Iterator[tuple[str, str]]:
    name = f"op-{secrets.token_hex(4)}"
    password = create_operator(engine, name)
    yield name, password
    with contextlib.suppress(OperatorError):  # (a test may have deleted it)
        delete_operator(engine, name)


def as_operator(client: TestClient, operator: tuple[str, str]) -> TestClient:
    answer = sign_in(client, kind="operator", name=operator[0], password=operator[1])
    assert answer.status_code == 303, answer.text[:300]
    return client


def as_tenant(client: TestClient, api_key: str) -> TestClient:
    answer = sign_in(client, kind="tenant", api_key=api_key)
    assert answer.status_code == 303, answer.text[:300]
    return client


def push(
    client: TestClient, tenant: Any, records: list[dict[str, Any]], endpoint: str = "contactinfo"
) -> Any:
    return client.post(f"/v2/{endpoint}", content=json.dumps(records), headers=tenant.headers)


def contact(
    contact_id: str, first: str = "Ann", last: str = "Lee", **details: Any
) -> dict[str, Any]:
    email = f"{first.lower()}.{last.lower()}@example.org"
    fields = {"ContactId": contact_id, "FirstName": first, "LastName": last}
    return {"ContactDetails": {**fields, "PrimaryEmailAddress": email, **details}}


# Sign-in, sessions and cookies ------------------------------------------------------------------


def test_an_operator_signs_in_and_sees_every_tenant(console, operator, make_tenant):
    first, second = make_tenant(), make_tenant()
    client = console()
    assert client.get("/console/").headers["location"] == "/console/signin"
    answer = sign_in(client, kind="operator", name=operator[0], password=operator[1])
    assert answer.status_code == 303
    assert client.get("/console/").headers["location"] == "/console/tenants"
    page = client.get("/console/tenants")
    assert page.status_code == 200
    for made in (first, second):  # found by the start of their code, however many tenants
        assert f">{made.code}</a>" in client.get("/console/tenants", params={"q": made.code}).text
    assert (
        f">{first.code}</a>" not in client.get("/console/tenants", params={"q": second.code}).text
    )
    assert f"operator {operator[0]}" in page.text


@pytest.mark.parametrize("wrong", ["name", "password"])
def test_a_wrong_name_or_password_signs_nobody_in(console, operator, wrong):
    client = console()
    name, password = operator
    if wrong == "name":
        name = f"nobody-{secrets.token_hex(3)}"
    else:
        password += "x"
    answer = sign_in(client, kind="operator", name=name, password=password)
    assert answer.status_code == 401
    assert "Wrong operator name or password" in answer.text
    refused = client.get("/console/tenants")
    assert refused.status_code == 401
    assert "Please sign in" in refused.text


def test_a_tenant_signs_in_with_its_key_and_reaches_only_itself(console, make_tenant):
    mine, other = make_tenant(), make_tenant()
    client = as_tenant(console(), mine.api_key)
    assert client.get("/console/").headers["location"] == f"/console/tenants/{mine.code}"
    assert client.get(f"/console/tenants/{mine.code}").status_code == 200
    for path in ("", "/pushes", "/contacts", "/contacts/C1", "/lists", "/meetings", "/products",
                 "/webhooks", "/changes", "/pushes/01m8xmkf8svnnxydxs2spa1a2f"):  # fmt: skip
        assert client.get(f"/console/tenants/{other.code}{path}").status_code == 404, path
    assert client.get("/console/tenants").status_code == 404  # the operators' overview
    token = form_token(client, f"/console/tenants/{mine.code}")
    made = client.post(
        "/console/tenants", data={"csrf": token, "code": "x", "platform": "community"}
    )
    assert made.status_code == 404
    revoke = client.post(
        f"/console/tenants/{other.code}/keys/{other.key_id}/revoke", data={"csrf": token}
    )
    assert revoke.status_code == 404
    assert push(console(), other, [contact("C1")]).status_code == 200  # the key still works


def test_an_unknown_or_revoked_key_signs_nobody_in(console, make_tenant, engine):
    tenant = make_tenant()
    client = console()
    assert sign_in(client, kind="tenant", api_key="pk_nope_nope").status_code == 401
    with engine.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == tenant.key_id)
            .values(revoked_at=datetime.now(UTC))
        )
    answer = sign_in(client, kind="tenant", api_key=tenant.api_key)
    assert answer.status_code == 401
    assert "not valid" in answer.text


def test_the_session_cookie_is_httponly_strict_and_lapses_after_8_hours(console, operator):
    client = console()
    page = client.get("/console/signin")
    cookie = page.headers["set-cookie"]
    for flag in ("httponly", "samesite=strict", "path=/console", "max-age=28800"):
        assert flag in cookie.lower(), cookie
    assert "secure" not in cookie.lower()
    answer = sign_in(client, kind="operator", name=operator[0], password=operator[1])
    assert "httponly" in answer.headers["set-cookie"].lower()
    # Every signed-in page sends it again, so it lapses 8 hours after the last request.
    assert "max-age=28800" in client.get("/console/tenants").headers["set-cookie"].lower()


def test_secure_cookies_when_configured(make_app, console):
    secure = make_app(console_secure_cookies=True)
    client = console(target=secure)
    cookie = client.get("/console/signin").headers["set-cookie"].lower()
    assert "; secure" in cookie


def test_signing_out_ends_the_session_even_for_a_copy_of_the_cookie(console, operator, engine):
    client = as_operator(console(), operator)
    copy = client.cookies[COOKIE]
    token = form_token(client, "/console/tenants")
    out = client.post("/console/signout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert client.get("/console/tenants").status_code == 401
    replay = console()
    replay.cookies.set(COOKIE, copy, domain="127.0.0.1", path="/console")
    assert replay.get("/console/tenants").status_code == 401
    with engine.connect() as conn:
        left = conn.execute(
            select(console_sessions).where(console_sessions.c.operator == operator[0])
        ).all()
    assert left == []


def test_a_session_idle_for_8_hours_has_ended(console, operator, engine):
    client = as_operator(console(), operator)
    assert client.get("/console/tenants").status_code == 200
    with engine.begin() as conn:
        conn.execute(
            update(console_sessions)
            .where(console_sessions.c.operator == operator[0])
            .values(seen_at=datetime.now(UTC) - timedelta(hours=8, minutes=1))
        )
    assert client.get("/console/tenants").status_code == 401
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(console_sessions).where(console_sessions.c.operator == operator[0])
            ).all()
            == []
        )


def test_a_session_in_use_is_kept_alive(console, operator, engine):
    client = as_operator(console(), operator)
    with engine.begin() as conn:
        conn.execute(
            update(console_sessions)
            .where(console_sessions.c.operator == operator[0])
            .values(seen_at=datetime.now(UTC) - timedelta(hours=7))
        )
    assert client.get("/console/tenants").status_code == 200
    with engine.connect() as conn:
        seen = conn.execute(
            select(console_sessions.c.seen_at).where(console_sessions.c.operator == operator[0])
        ).scalar_one()
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


def test_revoking_the_key_a_tenant_signed_in_with_ends_its_session(console, make_tenant):
    tenant = make_tenant()
    client = as_tenant(console(), tenant.api_key)
    token = form_token(client, f"/console/tenants/{tenant.code}")
    revoked = client.post(
        f"/console/tenants/{tenant.code}/keys/{tenant.key_id}/revoke", data={"csrf": token}
    )
    assert revoked.status_code == 303
    assert client.get(f"/console/tenants/{tenant.code}").status_code == 401
    assert push(console(), tenant, [contact("C1")]).status_code == 401


def test_deleting_an_operator_ends_its_sessions(console, engine):
    name = f"op-{secrets.token_hex(4)}"
    client = as_operator(console(), (name, create_operator(engine, name)))
    delete_operator(engine, name)
    assert client.get("/console/tenants").status_code == 401


# CSRF and the lockout --------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    console, operator, make_tenant, engine, token
):
    tenant = make_tenant()
    client = as_operator(console(), operator)
    data = {} if token is None else {"csrf": token}
    code = f"csrf-{secrets.token_hex(4)}"
    attempts = [
        ("/console/tenants", {"code": code, "platform": "community"}),
        (f"/console/tenants/{tenant.code}/keys", {}),
        (f"/console/tenants/{tenant.code}/keys/{tenant.key_id}/revoke", {}),
        ("/console/signout", {}),
    ]
    for path, fields in attempts:
        answer = client.post(path, data={**data, **fields})
        assert answer.status_code == 403, path
        assert "Nothing was changed" in answer.text
    with engine.connect() as conn:
        assert conn.execute(select(tenants).where(tenants.c.code == code)).first() is None
        keys = conn.execute(select(api_keys).where(api_keys.c.tenant_id == tenant.tenant_id)).all()
    assert [(k.key_id, k.revoked_at) for k in keys] == [(tenant.key_id, None)]
    assert client.get("/console/tenants").status_code == 200  # still signed in


def test_a_sign_in_without_its_csrf_token_is_refused_and_not_counted(console, operator):
    client = console()
    client.get("/console/signin")
    for _ in range(6):
        answer = client.post(
            "/console/signin", data={"kind": "operator", "name": operator[0], "password": "x"}
        )
        assert answer.status_code == 403
    assert as_operator(client, operator).get("/console/tenants").status_code == 200


def test_five_failed_sign_ins_lock_the_address_for_15_minutes(console, operator, tenant):
    address = new_address()
    client = console(address)
    statuses = []
    for attempt in range(5):  # operator and tenant failures count together
        if attempt % 2:
            statuses.append(sign_in(client, kind="tenant", api_key="pk_wrong_wrong").status_code)
        else:
            statuses.append(
                sign_in(client, kind="operator", name=operator[0], password="wrong").status_code
            )
    assert statuses == [401, 401, 401, 401, 429]
    locked = sign_in(client, kind="operator", name=operator[0], password=operator[1])
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.text
    assert sign_in(console(address), kind="tenant", api_key=tenant.api_key).status_code == 429
    # Another address is not locked.
    assert (
        sign_in(console(), kind="operator", name=operator[0], password=operator[1]).status_code
        == 303
    )


# Pages ------------------------------------------------------------------------------------------


def test_an_operator_creates_a_tenant_and_sees_its_key_once(console, operator, client):
    browser = as_operator(console(), operator)
    code = f"new-{secrets.token_hex(4)}"
    token = form_token(browser, "/console/tenants")
    made = browser.post(
        "/console/tenants",
        data={"csrf": token, "code": code, "platform": "community", "region": "us"},
    )
    assert made.status_code == 200
    key = made.text.split('class="secret" value="', 1)[1].split('"', 1)[0]
    headers = {"ApiKey": key, "Content-Type": "application/json"}
    assert (
        client.post(
            "/v2/contactinfo", content=json.dumps([contact("C1")]), headers=headers
        ).status_code
        == 200
    )
    page = browser.get(f"/console/tenants/{code}")
    assert key not in page.text  # shown once
    assert key[:12] in page.text or key.split("_")[1] in page.text  # its id is listed
    again = browser.post(
        "/console/tenants", data={"csrf": token, "code": code, "platform": "community"}
    )
    assert again.status_code == 400
    assert "already exists" in again.text


def test_a_tenant_creates_and_revokes_its_own_keys(console, make_tenant):
    tenant = make_tenant()
    client = as_tenant(console(), tenant.api_key)
    token = form_token(client, f"/console/tenants/{tenant.code}")
    made = client.post(f"/console/tenants/{tenant.code}/keys", data={"csrf": token})
    assert made.status_code == 200
    new_key = made.text.split('class="secret" value="', 1)[1].split('"', 1)[0]
    new_id = new_key.split("_")[1]
    api = console()
    headers = {"ApiKey": new_key, "Content-Type": "application/json"}
    assert api.post("/v2/contactinfo", content=b"[]", headers=headers).status_code == 200
    gone = client.post(f"/console/tenants/{tenant.code}/keys/{new_id}/revoke", data={"csrf": token})
    assert gone.status_code == 303
    assert api.post("/v2/contactinfo", content=b"[]", headers=headers).status_code == 401
    assert client.get(f"/console/tenants/{tenant.code}").status_code == 200  # its own key lives
    missing = client.post(f"/console/tenants/{tenant.code}/keys/nokey/revoke", data={"csrf": token})
    assert missing.status_code == 404


def test_the_overview_counts_contacts_pushes_and_outcomes(console, operator, make_tenant):
    tenant = make_tenant()
    api = console()
    assert push(api, tenant, [contact(f"C{n}") for n in range(3)]).status_code == 200
    deletion = {"ContactDetails": {"ContactId": "C0", "IsDeleted": True}}
    assert push(api, tenant, [deletion, contact("C1")]).status_code == 200
    assert push(api, tenant, [{"ContactDetails": {"FirstName": "x"}}]).status_code == 400
    browser = as_operator(console(), operator)
    page = browser.get("/console/tenants", params={"q": tenant.code})
    row = page.text.split(f">{tenant.code}</a>", 1)[1].split("</tr>", 1)[0]
    cells = [cell.split("</td>")[0].strip() for cell in row.split("<td>")[1:]]
    platform, region, contacts, _last, status, pushes, refused = cells
    assert (platform, region, contacts, pushes, refused) == ("community", "us", "2", "3", "1")
    assert "400" in status
    today = datetime.now(UTC).date().isoformat()
    mine = browser.get(f"/console/tenants/{tenant.code}").text
    day_row = mine.split(f"<td>{today}</td>", 1)[1].split("</tr>", 1)[0]
    numbers = [cell.split("</td>")[0] for cell in day_row.split("<td>")[1:]]
    # pushes, refused pushes, created, updated, deleted, unchanged, rejected
    assert numbers == ["3", "1", "3", "0", "1", "1", "1"]
    assert "<svg" in mine and "<rect" in mine


def test_the_push_log_filters_by_endpoint_status_and_day(console, make_tenant):
    tenant = make_tenant()
    api = console()
    push(api, tenant, [contact("C1")])
    push(api, tenant, [{"ContactDetails": {"FirstName": "x"}}])
    push(api, tenant, [{"ProductId": "P1", "ProductName": "Book"}], "product")
    client = as_tenant(console(), tenant.api_key)
    base = f"/console/tenants/{tenant.code}/pushes"

    def shown(query: str) -> int:
        page = client.get(base + query)
        assert page.status_code == 200, page.text[:300]
        return page.text.count(f"{base}/")

    today = datetime.now(UTC).date()
    assert shown("") == 3
    assert shown("?endpoint=contactinfo") == 2
    assert shown("?endpoint=product") == 1
    assert shown("?status=accepted") == 2
    assert shown("?status=refused") == 1
    assert shown("?status=400") == 1
    assert shown(f"?day={today}") == 3
    assert shown(f"?day={today - timedelta(days=1)}") == 0
    for bad in ("?endpoint=nope", "?status=ok", "?day=yesterday"):
        refused = client.get(base + bad)
        assert refused.status_code == 400, bad
        assert "expected" in refused.text


def test_a_refused_pushs_detail_groups_its_errors_by_path(console, make_tenant):
    tenant = make_tenant()
    api = console()
    bad = [contact(f"C{n}", Birthday="not a date") for n in range(7)]
    bad.append({"ContactDetails": {"FirstName": "no id"}})
    answer = push(api, tenant, bad)
    assert answer.status_code == 400
    request_id = answer.json()["requestId"]
    client = as_tenant(console(), tenant.api_key)
    page = client.get(f"/console/tenants/{tenant.code}/pushes/{request_id}")
    assert page.status_code == 200
    rows = page.text.split("<h2>Errors", 1)[1].split("<h2>Warnings", 1)[0].split("<tr>")[2:]
    first = [cell.split("</td>")[0] for cell in rows[0].split("<td>")[1:]]
    assert first[0] == "<code>ContactDetails.Birthday</code>"
    assert first[1:3] == ["7", "0, 1, 2, 3, 4"]
    second = [cell.split("</td>")[0] for cell in rows[1].split("<td>")[1:]]
    assert second[:3] == ["<code>ContactDetails.ContactId</code>", "1", "7"]
    assert (
        client.get(f"/console/tenants/{tenant.code}/pushes/01m8xmkf8svnnxydxs2spa1a2f").status_code
        == 404
    )


def test_issues_are_grouped_by_path_largest_group_first():
    issues = [
        Issue(9, "A", "a9"),
        Issue(1, "B", "b1"),
        Issue(3, "A", "a3"),
        Issue(3, "A", "a3 again"),
    ]
    groups = group_by_path(issues)
    assert [(g.path, g.count, g.indexes, g.message) for g in groups] == [
        ("A", 3, [3, 9], "a9"),
        ("B", 1, [1], "b1"),
    ]


def test_contacts_are_found_by_id_name_or_email_and_read_back(console, make_tenant):
    tenant = make_tenant()
    api = console()
    records = [
        contact("C100", "Ann", "Lee"),
        contact("C200", "Bob", "Stone"),
        contact("X9", "Ann", "Stone"),
    ]
    push(api, tenant, records)
    client = as_tenant(console(), tenant.api_key)
    base = f"/console/tenants/{tenant.code}/contacts"

    def found(q: str) -> list[str]:
        page = client.get(base, params={"q": q})
        assert page.status_code == 200
        return [part.split('"')[0] for part in page.text.split(f'href="{base}/')[1:]]

    assert found("") == ["C100", "C200", "X9"]
    assert found("C2") == ["C200"]
    assert found("ann") == ["C100", "X9"]
    assert found("Ann Stone") == ["X9"]
    assert found("bob.stone@example.org") == ["C200"]
    assert found("100%") == []
    one = client.get(f"{base}/C100")
    assert one.status_code == 200
    assert "&#34;FirstName&#34;: &#34;Ann&#34;" in one.text or '"FirstName": "Ann"' in one.text
    assert client.get(f"{base}/nobody").status_code == 404


def test_lists_meetings_products_webhooks_and_changes_are_shown(console, make_tenant, receiver):
    tenant = make_tenant()
    api = console()
    assert push(api, tenant, [contact("C1")]).status_code == 200
    assert (
        push(
            api,
            tenant,
            [{"ListId": "L1", "ListName": "Board", "Mode": "Replace", "ContactIds": ["C1"]}],
            "list",
        ).status_code
        == 200
    )
    assert (
        push(api, tenant, [{"MeetingId": "M1", "Title": "Annual meeting"}], "meeting").status_code
        == 200
    )
    assert (
        push(api, tenant, [{"ProductId": "P1", "ProductName": "Handbook"}], "product").status_code
        == 200
    )
    from pushapi.store.webhooks import create_webhook

    create_webhook(api.app.state.engine, tenant.code, receiver.url, None, None, datetime.now(UTC))
    client = as_tenant(console(), tenant.api_key)
    base = f"/console/tenants/{tenant.code}"
    assert "Board" in client.get(f"{base}/lists").text
    assert "Annual meeting" in client.get(f"{base}/meetings").text
    assert "Handbook" in client.get(f"{base}/products").text
    hooks = client.get(f"{base}/webhooks").text
    assert receiver.url in hooks and "active" in hooks
    changes = client.get(f"{base}/changes").text
    for kind in ("contact.created", "list.", "meeting.", "product."):
        assert kind in changes, kind


def test_a_tenants_pages_run_no_statement_past_the_tenant(console, make_tenant, app):
    from sqlalchemy import event
    from test_schema_layout import TENANT_TABLES, _crosses_tenants, _table_references

    tenant = make_tenant()
    api = console()
    push(api, tenant, [contact("C1")])
    client = as_tenant(console(), tenant.api_key)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", record)
    try:
        base = f"/console/tenants/{tenant.code}"
        for path in ("", "/pushes?status=accepted", "/contacts?q=ann", "/contacts/C1", "/lists",
                     "/meetings", "/products", "/webhooks", "/changes"):  # fmt: skip
            assert client.get(base + path).status_code == 200, path
    finally:
        event.remove(app.state.engine, "before_cursor_execute", record)
    touching = [s for s in statements if any(_table_references(s, t) for t in TENANT_TABLES)]
    assert len(touching) >= 9
    assert {s: _crosses_tenants(s) for s in touching if _crosses_tenants(s)} == {}


def test_the_demo_data_fills_every_page(console, operator, engine, settings):
    from pushapi.demo import CONTACTS, seed_demo
    from pushapi.store.tenants import create_tenant

    code = f"demo-{secrets.token_hex(4)}"
    made, key = create_tenant(engine, code, "community")
    seed_demo(engine, settings, made, key.key_id)
    client = as_operator(console(), operator)
    base = f"/console/tenants/{code}"
    overview = client.get(base).text
    assert f"<dt>Contacts</dt><dd>{CONTACTS}</dd>" in overview
    refused = client.get(f"{base}/pushes?status=refused").text
    request_id = refused.split(f'href="{base}/pushes/', 1)[1].split('"', 1)[0]
    detail = client.get(f"{base}/pushes/{request_id}").text
    assert "<code>ContactDetails.Birthday</code>" in detail
    assert "<code>ContactDetails.ContactId</code>" in detail
    assert "Board members" in client.get(f"{base}/lists").text
    assert "Annual meeting 2026" in client.get(f"{base}/meetings").text
    assert "Members&#39; handbook" in client.get(f"{base}/products").text
    warned = client.get(f"{base}/pushes?status=accepted").text
    assert ">1</td><td>" in warned  # the push with a warning


def test_sessions_idle_for_8_hours_are_pruned(console, operator, engine):
    from pushapi.store.operators import prune_sessions
    from pushapi.store.retention import Pruner

    stale = as_operator(console(), operator)
    fresh = as_operator(console(), operator)
    mine = console_sessions.c.operator == operator[0]
    with engine.begin() as conn:
        ids = list(conn.execute(select(console_sessions.c.session_id).where(mine)).scalars())
        assert len(ids) == 2
        conn.execute(
            update(console_sessions)
            .where(console_sessions.c.session_id == ids[0])
            .values(seen_at=datetime.now(UTC) - timedelta(hours=9))
        )
    with engine.begin() as conn:
        assert prune_sessions(conn, datetime.now(UTC)) >= 1
        left = list(conn.execute(select(console_sessions.c.session_id).where(mine)).scalars())
    assert left == ids[1:]
    assert {
        stale.get("/console/tenants").status_code,
        fresh.get("/console/tenants").status_code,
    } == {200, 401}
    # The server's pruner does it on its own.
    with engine.begin() as conn:
        conn.execute(
            update(console_sessions)
            .where(mine)
            .values(seen_at=datetime.now(UTC) - timedelta(hours=9))
        )
    pruner = Pruner(engine, 0, first_after=0)
    pruner.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with engine.connect() as conn:
                if not conn.execute(select(console_sessions).where(mine)).all():
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        pruner.stop()


def test_the_lockout_kept_in_redis_holds_on_every_worker(console, make_app, operator):
    from test_http_contract import REDIS_URL, redis_or_skip

    redis_or_skip()
    workers = [make_app(rate_limit_storage=REDIS_URL) for _ in range(2)]
    address = new_address()
    for attempt in range(5):
        worker = console(address, target=workers[attempt % 2])
        sign_in(worker, kind="operator", name=operator[0], password="wrong")
    for worker in workers:
        locked = sign_in(console(address, target=worker), kind="operator", name=operator[0],
                         password=operator[1])  # fmt: skip
        assert locked.status_code == 429


def test_the_overview_pages_through_tenants_in_code_order(console, operator, engine):
    from pushapi.store.tenants import create_tenant

    prefix = f"page-{secrets.token_hex(3)}-"
    codes = [f"{prefix}{n:03d}" for n in range(52)]
    for code in codes:
        create_tenant(engine, code, "community")
    client = as_operator(console(), operator)
    first = client.get("/console/tenants", params={"q": prefix}).text
    shown = [part.split("<")[0] for part in first.split('">')[1:] if part.startswith(prefix)]
    assert shown == codes[:50]
    link = first.split('<a href="?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = client.get(f"/console/tenants?{link}").text
    assert [c for c in codes if f">{c}</a>" in second] == codes[50:]
    assert "Next tenants" not in second
