"""Reading meetings and products back (SPEC 5): one record, and the keyset-paginated listings."""

from fastapi import APIRouter, Response
from sqlalchemy import Connection

from pushapi.auth import CallerDep
from pushapi.errors import NotFound
from pushapi.routes.deps import (
    DEFAULT_LIMIT,
    ID_PARAM,
    ConnDep,
    Cursor,
    IncludeDeleted,
    Limit,
    ModifiedSince,
    decode_cursor,
    json_response,
    moment_as_datetime,
    page,
    parse_flag,
    parse_moment,
)
from pushapi.routes.openapi import read_one, read_page
from pushapi.store.catalog import MEETINGS, PRODUCTS, DocumentKind, get_document, list_documents
from pushapi.tenants import Caller

router = APIRouter(tags=["read"])


def _one(
    kind: DocumentKind,
    record_id: str,
    caller: Caller,
    conn: Connection,
    include_deleted: str | None,
) -> Response:
    deleted_too = parse_flag("includeDeleted", include_deleted)
    found = get_document(kind, conn, caller.tenant.tenant_id, record_id, deleted_too)
    if found is None:
        raise NotFound(f"no {kind.noun} {record_id!r}")
    return json_response(found)


def _page(
    kind: DocumentKind,
    caller: Caller,
    conn: Connection,
    limit: int,
    cursor: str | None,
    modified_since: str | None,
    include_deleted: str | None,
) -> Response:
    since = parse_moment("modifiedSince", modified_since)
    items, next_position = list_documents(
        kind,
        conn,
        caller.tenant.tenant_id,
        limit,
        decode_cursor(cursor),
        moment_as_datetime(since) if since else None,
        parse_flag("includeDeleted", include_deleted),
    )
    return page(items, next_position)


@router.get(
    f"/v2/meetings/{{meeting_id:{ID_PARAM}}}",
    summary="One meeting, as pushed (normalised)",
    operation_id="get_meeting",
    responses=read_one("MeetingRead", "Every Meeting field, plus Meta"),
)
def read_meeting(
    meeting_id: str, caller: CallerDep, conn: ConnDep, include_deleted: IncludeDeleted = None
) -> Response:
    """Every Meeting field plus `Meta`; pushing it back changes nothing."""
    return _one(MEETINGS, meeting_id, caller, conn, include_deleted)


@router.get(
    "/v2/meetings",
    summary="Meetings in MeetingId order, a page at a time",
    operation_id="list_meetings",
    responses=read_page("MeetingRead", "A page of meetings"),
)
def read_meetings(
    caller: CallerDep,
    conn: ConnDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    modified_since: ModifiedSince = None,
    include_deleted: IncludeDeleted = None,
) -> Response:
    return _page(MEETINGS, caller, conn, limit, cursor, modified_since, include_deleted)


@router.get(
    f"/v2/products/{{product_id:{ID_PARAM}}}",
    summary="One product, as pushed (normalised)",
    operation_id="get_product",
    responses=read_one("ProductRead", "Every Product field, plus Meta"),
)
def read_product(
    product_id: str, caller: CallerDep, conn: ConnDep, include_deleted: IncludeDeleted = None
) -> Response:
    """Every Product field plus `Meta`; pushing it back changes nothing."""
    return _one(PRODUCTS, product_id, caller, conn, include_deleted)


@router.get(
    "/v2/products",
    summary="Products in ProductId order, a page at a time",
    operation_id="list_products",
    responses=read_page("ProductRead", "A page of products"),
)
def read_products(
    caller: CallerDep,
    conn: ConnDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    modified_since: ModifiedSince = None,
    include_deleted: IncludeDeleted = None,
) -> Response:
    return _page(PRODUCTS, caller, conn, limit, cursor, modified_since, include_deleted)
