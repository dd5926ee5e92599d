"""Reading back the records stored whole (SPEC 5): contacts, meetings and products, each one at
a time and as a keyset-paginated listing, with the same parameters."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

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
from pushapi.routes.openapi import one_answer, page_answer
from pushapi.store.catalog import MEETINGS, PRODUCTS, documents_json
from pushapi.store.contact_reads import contacts_json
from pushapi.store.contacts import CONTACTS
from pushapi.store.records import RecordTable, RowsJson, get_record, list_records


@dataclass(frozen=True)
class Readable:
    """A kind of record the read API serves: /v2/{collection} and /v2/{collection}/{id}."""

    kind: RecordTable
    collection: str
    component: str  # the OpenAPI component of one record as read back
    as_json: RowsJson
    one_summary: str
    page_summary: str


READABLE = (
    Readable(
        CONTACTS,
        "contacts",
        "ContactRead",
        contacts_json,
        "One contact, in the ContactInfo shape it was pushed in (normalised), plus Meta; "
        "pushing it back changes nothing",
        "Contacts in ContactId order, a page at a time",
    ),
    Readable(
        MEETINGS,
        "meetings",
        "MeetingRead",
        documents_json,
        "One meeting, every field as pushed (normalised), plus Meta",
        "Meetings in MeetingId order, a page at a time",
    ),
    Readable(
        PRODUCTS,
        "products",
        "ProductRead",
        documents_json,
        "One product, every field as pushed (normalised), plus Meta",
        "Products in ProductId order, a page at a time",
    ),
)


def _routes(r: Readable) -> tuple[Callable[..., Any], Callable[..., Any]]:
    id_name = r.kind.id_column_name  # the path parameter: contact_id, meeting_id, product_id
    RecordId = Annotated[str, Path(alias=id_name, description=f"The {r.kind.noun}'s id")]

    def read_one(
        record_id: RecordId,
        caller: CallerDep,
        conn: ConnDep,
        include_deleted: IncludeDeleted = None,
    ) -> Response:
        deleted_too = parse_flag("includeDeleted", include_deleted)
        found = get_record(conn, r.kind, caller.tenant.tenant_id, record_id, deleted_too, r.as_json)
        if found is None:
            raise NotFound(f"no {r.kind.noun} {record_id!r}")
        return json_response(found)

    def read_page(
        request: Request,
        caller: CallerDep,
        conn: ConnDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        modified_since: ModifiedSince = None,
        include_deleted: IncludeDeleted = None,
    ) -> Response:
        since = parse_moment("modifiedSince", modified_since)
        items, next_position = list_records(
            conn,
            r.kind,
            caller.tenant.tenant_id,
            (limit, decode_cursor(cursor), request.app.state.settings.max_page_bytes),
            moment_as_datetime(since) if since else None,
            parse_flag("includeDeleted", include_deleted),
            r.as_json,
        )
        return page(items, next_position)

    return read_one, read_page


def build_router() -> APIRouter:
    """GET /v2/{collection}/{id} and GET /v2/{collection} for every readable kind of record."""
    router = APIRouter(tags=["read"])
    for r in READABLE:
        read_one, read_page = _routes(r)
        router.add_api_route(
            f"/v2/{r.collection}/{{{r.kind.id_column_name}:{ID_PARAM}}}",
            read_one,
            methods=["GET"],
            summary=r.one_summary,
            operation_id=f"get_{r.kind.noun}",
            responses=one_answer(r.component, f"The {r.kind.noun} and its Meta"),
        )
        router.add_api_route(
            f"/v2/{r.collection}",
            read_page,
            methods=["GET"],
            summary=r.page_summary,
            operation_id=f"list_{r.collection}",
            responses=page_answer(r.component, f"A page of {r.collection}"),
        )
    return router
