"""Example data for `pushapi serve --demo`, so that a first look at the console shows something:
a few hundred contacts, a list, meetings, products, a push with warnings and a refused push.
Pushed through the same pipeline as a push over HTTP, so the push log and the change feed hold
them too."""

import random
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Engine

from pushapi.config import Settings
from pushapi.errors import ApiError
from pushapi.push.apply import PushLimits, PushRequest, log_refusal, run_push
from pushapi.push.endpoints import ENDPOINTS_BY_NAME
from pushapi.request_ids import new_request_id
from pushapi.store.background import writer_for
from pushapi.tenants import Tenant

CONTACTS = 300
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kemi"]
LAST = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jones"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Greenville"]


def _contact(n: int, pick: random.Random) -> dict[str, Any]:
    first, last = pick.choice(FIRST), pick.choice(LAST)
    level = pick.randint(1, 3)
    return {
        "ContactDetails": {
            "ContactId": f"D{n:04d}",
            "FirstName": first,
            "LastName": last,
            "PrimaryEmailAddress": f"{first.lower()}.{last.lower()}.{n}@example.org",
            "IsMember": True,
            "MemberSince": f"20{pick.randint(10, 24)}-0{pick.randint(1, 9)}-15T09:00:00.000Z",
        },
        "Groups": [
            {
                "GroupId": f"LEVEL{level}",
                "GroupName": f"Membership level {level}",
                "GroupType": "Membership",
                "Role": "Member",
            },
        ],
        "Addresses": [{"AddressName": "Home", "City": pick.choice(CITIES), "Country": "US"}],
    }


def _push(
    engine: Engine, limits: PushLimits, tenant: Tenant, key_id: str, endpoint: str, records: Any
) -> None:
    push = PushRequest(
        new_request_id(),
        ENDPOINTS_BY_NAME[endpoint],
        tenant,
        key_id,
        datetime.now(UTC),
        time.perf_counter(),
    )
    try:
        run_push(engine, push, [msgspec.json.encode(records)], limits)
    except ApiError as error:
        writer = writer_for(engine)
        log_refusal(writer, push, error)
        writer.flush()


def seed_demo(engine: Engine, settings: Settings, tenant: Tenant, key_id: str) -> None:
    """Push the example data as the tenant, with its key."""
    pick = random.Random(7)  # the same data on every machine
    limits = PushLimits.of(settings)
    contacts = [_contact(n, pick) for n in range(1, CONTACTS + 1)]
    for start in range(0, CONTACTS, 100):
        _push(engine, limits, tenant, key_id, "contactinfo", contacts[start : start + 100])
    products = [
        {"ProductId": "BOOK1", "ProductName": "Members' handbook", "Price": 25},
        {"ProductId": "CONF26", "ProductName": "Annual conference 2026 ticket", "Price": 350},
    ]
    _push(engine, limits, tenant, key_id, "product", products)
    meetings = [
        {"MeetingId": "M2026", "Title": "Annual meeting 2026", "TimeZone": "America/Chicago",
         "BeginDate": "2026-06-10T09:00:00.000-05:00", "EndDate": "2026-06-12T17:00:00.000-05:00"},
        {"MeetingId": "BOARD-Q4", "Title": "Board meeting, fourth quarter"},
    ]  # fmt: skip
    _push(engine, limits, tenant, key_id, "meeting", meetings)
    board = [f"D{n:04d}" for n in range(1, 13)]
    lists = [
        {"ListId": "BOARD", "ListName": "Board members", "Mode": "Replace", "ContactIds": board}
    ]
    _push(engine, limits, tenant, key_id, "list", lists)
    # A re-push with changes and an unknown e-mail form: updated records and warnings.
    changed = [dict(c) for c in contacts[:20]]
    for record in changed:
        record["ContactDetails"] = {**record["ContactDetails"], "Title": "Volunteer"}
    changed[0]["ContactDetails"]["PrimaryEmailAddress"] = "not-an-address"
    _push(engine, limits, tenant, key_id, "contactinfo", changed)
    # A push a client got wrong: refused whole, its errors in the push log.
    wrong = [
        {"ContactDetails": {"FirstName": "No", "LastName": "Id"}},
        {"ContactDetails": {"ContactId": "D9001", "Birthday": "31/12/1980"}},
        {"ContactDetails": {"ContactId": "D9002", "Birthday": "yesterday"}},
    ]
    _push(engine, limits, tenant, key_id, "contactinfo", wrong)
