"""Reading meetings and products back (SPEC 5): one record, and the keyset-paginated listings."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import Connection

from pushapi.auth import CallerDep
from pushapi.errors import NotFound
from pushapi.routes.paging import (
    DEFAULT_LIMIT,
    ID_PARAM,
    ConnDep,
    Cursor,
    Limit,
    decode_cursor,
    json_response,
    moment_as_datetime,
    page,
    parse_flag,
    parse_moment,
)
from pushapi.schema.openapi import ERROR_RESPONSES
from pushapi.store.catalog import MEETINGS, PRODUCTS, DocumentKind, get_document, list_documents
from pushapi.tenants import Caller

router = APIRouter(tags=["read"], responses=ERROR_RESPONSES)
IncludeDeleted = Annotated[
    str | None, Query(alias="includeDeleted", description="true: soft-deleted records too")
]
ModifiedSince = Annotated[
    str | None, Query(alias="modifiedSince", description="Only records changed since")
]


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
    f"/v2/meetings/{{meeting_id:{ID_PARAM}}}", summary="One meeting, as pushed (normalised)"
)
def read_meeting(
    meeting_id: str, caller: CallerDep, conn: ConnDep, include_deleted: IncludeDeleted = None
) -> Response:
    """Every Meeting field plus `Meta`; pushing it back changes nothing."""
    return _one(MEETINGS, meeting_id, caller, conn, include_deleted)


@router.get("/v2/meetings", summary="Meetings in MeetingId order, a page at a time")
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
    f"/v2/products/{{product_id:{ID_PARAM}}}", summary="One product, as pushed (normalised)"
)
def read_product(
    product_id: str, caller: CallerDep, conn: ConnDep, include_deleted: IncludeDeleted = None
) -> Response:
    """Every Product field plus `Meta`; pushing it back changes nothing."""
    return _one(PRODUCTS, product_id, caller, conn, include_deleted)


@router.get("/v2/products", summary="Products in ProductId order, a page at a time")
def read_products(
    caller: CallerDep,
    conn: ConnDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    modified_since: ModifiedSince = None,
    include_deleted: IncludeDeleted = None,
) -> Response:
    return _page(PRODUCTS, caller, conn, limit, cursor, modified_since, include_deleted)
