"""Reading contacts back (SPEC 5): one contact, and the keyset-paginated listing."""

from fastapi import APIRouter, Response

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
from pushapi.store.contact_reads import get_contact, list_contacts

router = APIRouter(tags=["read"])
CONTACT = "ContactRead"  # the component of a contact as read back


@router.get(
    f"/v2/contacts/{{contact_id:{ID_PARAM}}}",
    summary="One contact, as pushed (normalised)",
    operation_id="get_contact",
    responses=read_one(CONTACT, "The contact in its ContactInfo shape, plus Meta"),
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


@router.get(
    "/v2/contacts",
    summary="Contacts in ContactId order, a page at a time",
    operation_id="list_contacts",
    responses=read_page(CONTACT, "A page of contacts"),
)
def read_contacts(
    caller: CallerDep,
    conn: ConnDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    modified_since: ModifiedSince = None,
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
