"""The console's pages (SPEC 9): sign-in, the operators' overview of tenants, and one tenant's
keys, push log, contacts, lists, meetings, products, webhooks and change events.

Every page of a tenant is reached through `_tenant`, which answers 404 unless the session is an
operator's or that tenant's own. Every form is a POST that carries the session's CSRF token.
"""

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pushapi.console.chart import COLOURS, HEIGHT, LABELS, WIDTH, bars
from pushapi.console.guard import begin, check_csrf, csrf_token, signed_in
from pushapi.errors import Issue
from pushapi.push.endpoints import PUSH_ENDPOINTS
from pushapi.store.catalog import MEETINGS, PRODUCTS, documents_json
from pushapi.store.console import (
    OUTCOMES,
    PushFilter,
    filtered_pushes,
    find_tenant_in,
    latest_changes,
    outcome_days,
    search_contacts,
    tenant_summaries,
)
from pushapi.store.contact_reads import contacts_json
from pushapi.store.contacts import CONTACTS
from pushapi.store.dialect import across_tenants
from pushapi.store.lists import list_lists
from pushapi.store.operators import Session, end_session, operator_password_matches, start_session
from pushapi.store.pushlog import get_push_entry
from pushapi.store.records import get_record, list_records
from pushapi.store.tenants import authenticate, create_key, create_tenant, list_keys, revoke_key
from pushapi.store.webhooks import list_webhooks
from pushapi.tenants import PLATFORMS, REGIONS, Tenant, TenantError

PREFIX = "/console"
PAGE = 50  # rows per page of every listing
FIRST_INDEXES = 5  # record indexes shown per field path of a push's errors or warnings
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
ENDPOINTS = tuple(endpoint.name for endpoint in PUSH_ENDPOINTS)


class SignInNeeded(Exception):
    """No live session: the answer is the sign-in page."""


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def render(
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    context.setdefault("session", None)
    return templates.TemplateResponse(
        request,
        template,
        {"prefix": PREFIX, "csrf": csrf_token(request), **context},
        status_code=status,
        headers=headers,
    )


def _viewer(request: Request) -> Session:
    session = signed_in(request)
    if session is None:
        raise SignInNeeded
    return session


def _tenant(conn: Connection, session: Session, code: str) -> Tenant:
    """The tenant of a page: an operator may see any, a tenant only itself (else 404)."""
    if session.operator is None and session.tenant_code != code:
        raise HTTPException(404, "no such page")
    tenant = find_tenant_in(conn, code)
    if tenant is None:
        raise HTTPException(404, "no such page")
    return tenant


def _operator(session: Session) -> None:
    if session.operator is None:
        raise HTTPException(404, "no such page")


def _redirect(path: str) -> Response:
    return RedirectResponse(PREFIX + path, status_code=303)


def _now() -> datetime:
    return datetime.now(UTC)


# Sign-in and sign-out -------------------------------------------------------------------------


def home(request: Request) -> Response:
    session = signed_in(request)
    if session is None:
        return _redirect("/signin")
    if session.operator is not None:
        return _redirect("/tenants")
    return _redirect(f"/tenants/{session.tenant_code}")


def sign_in_page(request: Request) -> Response:
    return render(request, "signin.html")


def _sign_in(engine: Engine, form: FormData) -> str | None:
    """A new session's secret for the credentials of the form, or None when they are wrong."""
    if form.get("kind") == "operator":
        name, password = str(form.get("name") or ""), str(form.get("password") or "")
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            if not operator_password_matches(conn, name, password):
                return None
            return start_session(conn, operator=name)[0]
    caller = authenticate(engine, str(form.get("api_key") or "").strip())
    if caller is None:
        return None
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        return start_session(conn, tenant_code=caller.tenant.code, key_id=caller.key_id)[0]


async def sign_in(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    address = request.client.host if request.client else "unknown"
    return await run_in_threadpool(_sign_in_from, request, form, address)


LOCKED = {"Retry-After": str(15 * 60)}  # the lock lasts 15 minutes at the most


def _sign_in_from(request: Request, form: FormData, address: str) -> Response:
    lock = request.app.state.sign_in_lock
    if lock.locked(address):
        return render(request, "signin.html", 429, LOCKED, locked=True)
    secret = _sign_in(_engine(request), form)
    if secret is None:
        lock.failed(address)
        if lock.locked(address):
            return render(request, "signin.html", 429, LOCKED, locked=True)
        return render(request, "signin.html", 401, failed=form.get("kind") or "tenant")
    begin(request, secret)
    return _redirect("/")


async def sign_out(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    session = await run_in_threadpool(signed_in, request)
    if session is not None:
        await run_in_threadpool(end_session, _engine(request), session.session_id)
    request.session.clear()
    return _redirect("/signin")


# Tenants ----------------------------------------------------------------------------------------


def _chart(conn: Connection, tenant_id: int | None = None) -> dict[str, Any]:
    days = outcome_days(conn, _now().date(), tenant_id=tenant_id)
    return {
        "days": days,
        "bars": bars(days),
        "outcomes": OUTCOMES,
        "colours": COLOURS,
        "width": WIDTH,
        "height": HEIGHT,
        "labels": LABELS,
    }


def tenants_page(request: Request, **extra: Any) -> Response:
    session = _viewer(request)
    _operator(session)
    after = request.query_params.get("after") or None
    prefix = request.query_params.get("q", "").strip()[:64]
    request.app.state.writer.flush()  # refused pushes queued a moment ago count too
    with _engine(request).connect() as conn:
        across_tenants(conn)  # the operators' overview: every tenant, on purpose
        summaries, next_after = tenant_summaries(conn, _now(), PAGE, after, prefix=prefix)
        chart = _chart(conn)
    return render(
        request,
        "tenants.html",
        extra.pop("status", 200),
        session=session,
        tenants=summaries,
        next_after=next_after,
        q=prefix,
        chart=chart,
        platforms=PLATFORMS,
        regions=REGIONS,
        **extra,
    )


async def create_tenant_form(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    session = await run_in_threadpool(_viewer, request)
    _operator(session)
    code = str(form.get("code") or "").strip()
    try:
        tenant, key = await run_in_threadpool(
            create_tenant,
            _engine(request),
            code,
            str(form.get("platform") or ""),
            str(form.get("region") or "us"),
        )
    except TenantError as error:
        return await run_in_threadpool(
            tenants_page, request, status=400, error=str(error), code=code
        )
    return render(request, "key_created.html", session=session, tenant=tenant, key=key, new=True)


def tenant_page(request: Request) -> Response:
    session = _viewer(request)
    engine = _engine(request)
    request.app.state.writer.flush()
    with engine.connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        summary = tenant_summaries(conn, _now(), 1, None, tenant_id=tenant.tenant_id)[0][0]
        chart = _chart(conn, tenant.tenant_id)
    keys = list_keys(engine, tenant.code)
    return render(
        request, "tenant.html", session=session, tenant=tenant, summary=summary, keys=keys,
        chart=chart,
    )  # fmt: skip


async def create_key_form(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)

    def create() -> tuple[Session, Tenant, Any]:
        session = _viewer(request)
        engine = _engine(request)
        with engine.connect() as conn:
            tenant = _tenant(conn, session, request.path_params["code"])
        return session, tenant, create_key(engine, tenant.code)

    session, tenant, key = await run_in_threadpool(create)
    return render(request, "key_created.html", session=session, tenant=tenant, key=key)


async def revoke_key_form(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)

    def revoke() -> str:
        session = _viewer(request)
        engine = _engine(request)
        with engine.connect() as conn:
            tenant = _tenant(conn, session, request.path_params["code"])
        try:
            revoke_key(engine, tenant.code, request.path_params["key_id"])
        except TenantError:
            raise HTTPException(404, "no such key") from None
        return tenant.code

    code = await run_in_threadpool(revoke)
    return _redirect(f"/tenants/{code}")


# The push log -----------------------------------------------------------------------------------


def _push_filter(request: Request) -> PushFilter:
    """The push log's filters from the query, or 400 naming the one that is wrong."""
    params = request.query_params
    endpoint = params.get("endpoint") or None
    status = params.get("status") or None
    day_text = params.get("day") or None
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise HTTPException(400, f"endpoint: expected one of {', '.join(ENDPOINTS)}")
    if (
        status is not None
        and status not in ("accepted", "refused")
        and not (status.isdigit() and len(status) == 3)
    ):
        raise HTTPException(400, "status: expected accepted, refused or a status code")
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        raise HTTPException(400, "day: expected a date such as 2026-12-03") from None
    return PushFilter(endpoint, status, day)


def pushes_page(request: Request) -> Response:
    session = _viewer(request)
    wanted = _push_filter(request)
    before = request.query_params.get("before") or None
    engine = _engine(request)
    request.app.state.writer.flush()  # refused pushes queued a moment ago are shown too
    with engine.connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        entries, next_before = filtered_pushes(conn, tenant.tenant_id, wanted, PAGE, before)
    return render(
        request, "pushes.html", session=session, tenant=tenant, entries=entries,
        next_before=next_before, wanted=wanted, endpoints=ENDPOINTS,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PathGroup:
    """The issues of one field path: how many, the first record indexes, the first message."""

    path: str
    count: int
    indexes: list[int]
    message: str


def group_by_path(issues: list[Issue]) -> list[PathGroup]:
    """Issues grouped by field path (record index left out: `[3].Emails[0].Email` and
    `[9].Emails[0].Email` share the path `Emails[0].Email`), the largest groups first."""
    groups: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        groups[issue.path].append(issue)
    found = [
        PathGroup(
            path, len(items), sorted({i.index for i in items})[:FIRST_INDEXES], items[0].message
        )
        for path, items in groups.items()
    ]
    return sorted(found, key=lambda group: (-group.count, group.path))


def push_page(request: Request) -> Response:
    session = _viewer(request)
    request.app.state.writer.flush()
    with _engine(request).connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        entry = get_push_entry(conn, tenant.tenant_id, request.path_params["request_id"])
    if entry is None:
        raise HTTPException(404, "no such push")
    return render(
        request, "push.html", session=session, tenant=tenant, entry=entry,
        errors=group_by_path(entry.errors), warnings=group_by_path(entry.warnings),
    )  # fmt: skip


# Records ---------------------------------------------------------------------------------------


def contacts_page(request: Request) -> Response:
    session = _viewer(request)
    text = request.query_params.get("q", "")[:200]
    after = request.query_params.get("after") or None
    with _engine(request).connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        found, next_after = search_contacts(conn, tenant.tenant_id, text, PAGE, after)
    return render(
        request, "contacts.html", session=session, tenant=tenant, contacts=found, q=text,
        next_after=next_after,
    )  # fmt: skip


def contact_page(request: Request) -> Response:
    session = _viewer(request)
    contact_id = request.path_params["contact_id"]
    with _engine(request).connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        found = get_record(conn, CONTACTS, tenant.tenant_id, contact_id, True, contacts_json)
    if found is None:
        raise HTTPException(404, "no such contact")
    shown = json.dumps(found, indent=2, ensure_ascii=False)
    return render(
        request, "record.html", session=session, tenant=tenant, noun="contact",
        record_id=contact_id, document=shown, back="contacts",
    )  # fmt: skip


def lists_page(request: Request) -> Response:
    session = _viewer(request)
    after = request.query_params.get("after") or None
    with _engine(request).connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        found, next_after = list_lists(conn, tenant.tenant_id, PAGE, after)
    return render(
        request, "lists.html", session=session, tenant=tenant, lists=found, next_after=next_after
    )


def _documents_page(collection: str, title_field: str) -> Callable[[Request], Response]:
    kind = MEETINGS if collection == "meetings" else PRODUCTS

    def page(request: Request) -> Response:
        session = _viewer(request)
        after = request.query_params.get("after") or None
        max_bytes = request.app.state.settings.max_page_bytes
        with _engine(request).connect() as conn:
            tenant = _tenant(conn, session, request.path_params["code"])
            found, next_after = list_records(
                conn, kind, tenant.tenant_id, (PAGE, after, max_bytes), None, True, documents_json
            )
        rows = [
            (d[kind.id_path], d.get(title_field) or "", d["IsDeleted"], d["Meta"]["UpdatedAt"])
            for d in found
        ]
        return render(
            request, "documents.html", session=session, tenant=tenant, collection=collection,
            id_field=kind.id_path, title_field=title_field, rows=rows, next_after=next_after,
        )  # fmt: skip

    return page


def webhooks_page(request: Request) -> Response:
    session = _viewer(request)
    engine = _engine(request)
    with engine.connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
    found = list_webhooks(engine, tenant.code)
    return render(request, "webhooks.html", session=session, tenant=tenant, webhooks=found)


def changes_page(request: Request) -> Response:
    session = _viewer(request)
    with _engine(request).connect() as conn:
        tenant = _tenant(conn, session, request.path_params["code"])
        events = latest_changes(conn, tenant.tenant_id, 100)
    return render(request, "changes.html", session=session, tenant=tenant, events=events)


TENANT = "/tenants/{code}"
ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/signin", sign_in_page, methods=["GET"]),
    Route("/signin", sign_in, methods=["POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/tenants", tenants_page, methods=["GET"]),
    Route("/tenants", create_tenant_form, methods=["POST"]),
    Route(TENANT, tenant_page, methods=["GET"]),
    Route(f"{TENANT}/keys", create_key_form, methods=["POST"]),
    Route(f"{TENANT}/keys/{{key_id}}/revoke", revoke_key_form, methods=["POST"]),
    Route(f"{TENANT}/pushes", pushes_page, methods=["GET"]),
    Route(f"{TENANT}/pushes/{{request_id}}", push_page, methods=["GET"]),
    Route(f"{TENANT}/contacts", contacts_page, methods=["GET"]),
    Route(f"{TENANT}/contacts/{{contact_id:path}}", contact_page, methods=["GET"]),
    Route(f"{TENANT}/lists", lists_page, methods=["GET"]),
    Route(f"{TENANT}/meetings", _documents_page("meetings", "Title"), methods=["GET"]),
    Route(f"{TENANT}/products", _documents_page("products", "ProductName"), methods=["GET"]),
    Route(f"{TENANT}/webhooks", webhooks_page, methods=["GET"]),
    Route(f"{TENANT}/changes", changes_page, methods=["GET"]),
]
