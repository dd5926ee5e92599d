"""The push endpoints (SPEC 3, 4): for each, the object it takes, the rules of a record, how a
batch is applied, how stored records are recognised, and the platforms it is available on."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from msgspec import Raw
from sqlalchemy import Connection

from pushapi.push.read import RecordWarnings
from pushapi.schema.compiled import CompiledReader
from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import ObjectSchema, Report
from pushapi.schema.lists import LIST
from pushapi.schema.meeting import MEETING
from pushapi.schema.product import PRODUCT
from pushapi.schema.warnings import contact_warnings, list_warnings
from pushapi.store.catalog import apply_meeting_push, apply_product_push
from pushapi.store.contacts import apply_contact_push, recognise_contacts, recognition_holds
from pushapi.store.counts import Counts
from pushapi.store.lists import apply_list_push
from pushapi.store.records import PushBatch, Recognition
from pushapi.tenants import ESSENTIALS, PLATFORMS, Tenant

ApplyPush = Callable[[Connection, Tenant, PushBatch, Report, datetime], Counts]


@dataclass(frozen=True, slots=True)
class Recognizer:
    """How an endpoint recognises records stored byte for byte (`find`); found before the write
    transaction, trusted inside it only while `holds`."""

    find: Callable[[Connection, Tenant, list[Raw], bool], Recognition]  # versioned or not
    holds: Callable[[Connection, Tenant, Recognition], bool]


@dataclass(frozen=True)
class PushEndpoint:
    """One push endpoint: `/v2/{name}`."""

    name: str
    schema: ObjectSchema
    apply: ApplyPush
    summary: str
    platforms: tuple[str, ...] = PLATFORMS
    warnings: RecordWarnings | None = None
    recognizer: Recognizer | None = None
    reader: CompiledReader = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", CompiledReader(self.schema))


# SPEC 4.2-4.4: lists, meetings and products are not available on community-essentials.
NOT_ESSENTIALS = tuple(platform for platform in PLATFORMS if platform != ESSENTIALS)

PUSH_ENDPOINTS: tuple[PushEndpoint, ...] = (
    PushEndpoint(
        "contactinfo",
        CONTACT_INFO,
        apply_contact_push,
        "Push contacts: details, groups, addresses, phones, e-mails and more",
        warnings=contact_warnings,
        recognizer=Recognizer(recognise_contacts, recognition_holds),
    ),
    PushEndpoint(
        "list",
        LIST,
        apply_list_push,
        "Push lists: add, remove or replace their members",
        NOT_ESSENTIALS,
        warnings=list_warnings,
    ),
    PushEndpoint(
        "meeting",
        MEETING,
        apply_meeting_push,
        "Push meetings: each record replaces the stored meeting, or deletes it",
        NOT_ESSENTIALS,
    ),
    PushEndpoint(
        "product",
        PRODUCT,
        apply_product_push,
        "Push products: each record replaces the stored product, or deletes it",
        NOT_ESSENTIALS,
    ),
)
ENDPOINTS_BY_NAME = {endpoint.name: endpoint for endpoint in PUSH_ENDPOINTS}
