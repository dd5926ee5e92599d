"""Reading contacts back (SPEC 5): one contact, and the keyset-paginated listing."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

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
from pushapi.store.reads import get_contact, list_contacts

router = APIRouter(tags=["read"], responses=ERROR_RESPONSES)
IncludeDeleted = Annotated[
    str | None, Query(alias="includeDeleted", description="true: soft-deleted contacts too")
]


@router.get(
    f"/v2/contacts/{{contact_id:{ID_PARAM}}}", summary="One contact, as pushed (normalised)"
)
def read_contact(
    contact_id: str, caller: CallerDep, conn: ConnDep, include_deleted: IncludeDeleted = None
) -> Response:
    """The contact in its ContactInfo shape plus `Meta`; pushing it back changes nothing."""
    deleted_too = parse_flag("includeDeleted", include_deleted)
    contact = get_contact(conn, caller.tenant.tenant_id, contact_id, deleted_too)
    if contact is None:
        raise NotFound(f"no contact {contact_id!r}")
    return json_response(contact)


@router.get("/v2/contacts", summary="Contacts in ContactId order, a page at a time")
def read_contacts(
    caller: CallerDep,
    conn: ConnDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    modified_since: Annotated[
        str | None, Query(alias="modifiedSince", description="Only contacts changed since")
    ] = None,
    include_deleted: IncludeDeleted = None,
) -> Response:
    since = parse_moment("modifiedSince", modified_since)
    items, next_position = list_contacts(
        conn,
        caller.tenant.tenant_id,
        limit,
        decode_cursor(cursor),
        moment_as_datetime(since) if since else None,
        parse_flag("includeDeleted", include_deleted),
    )
    return page(items, next_position)
