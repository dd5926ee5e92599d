"""Property: any valid ContactInfo record, in any accepted spelling, reads back as its normalised
form, and pushing what was read back is an unchanged re-push (SPEC 3.1, 4.1, 5).

The expected read-back is computed here, independently of pushapi's parsers: DateTimes with
datetime arithmetic, decimals with Decimal, names from the reference's field tables.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_contact_reads import COLLECTIONS, CONTACT_INFO_FIELDS, contact_path

# Value kinds of the fields that are not plain strings; everything else is a string.
INT, BOOL, DEC, DT, ID = "int", "bool", "decimal", "DateTime", "id"
KINDS: dict[str, dict[str, str]] = {
    "ContactDetails": {
        "ContactId": ID, "Age": INT, "Birthday": DT, "MemberSince": DT, "MemberExpiresOn": DT,
        "ParentContactId": ID, "PrimaryContactContactId": ID, "ExcludeFromDirectory": BOOL,
        "DoNotEmail": BOOL, "IsMember": BOOL, "IsOrganization": BOOL, "IsDeleted": BOOL,
    },
    "Groups": {"InitialJoinDate": DT, "BeginDate": DT, "EndDate": DT, "GroupId": ID},
    "Demographics": {},
    "Education": {"StartDate": DT, "EndDate": DT, "GraduationDate": DT},
    "JobHistory": {"StartDate": DT, "EndDate": DT, "IsCurrent": BOOL},
    "Addresses": {
        "Latitude": DEC, "Longitude": DEC, "DoNotPublish": BOOL, "IsBill": BOOL,
        "IsShip": BOOL, "IsMail": BOOL, "IsPrimary": BOOL,
    },
    "PhoneNumbers": {"IsPreferred": BOOL, "IsSmsPreferred": BOOL, "DoNotPublish": BOOL},
    "EmailAddresses": {"IsPreferred": BOOL, "DoNotPublish": BOOL},
    "Orders": {
        "OrderId": ID, "ProductId": ID, "OrderDate": DT, "Quantity": INT, "TotalAmount": DEC,
    },
}  # fmt: skip
REQUIRED = {
    "Demographics": ("DemographicName",),
    "Education": ("InstitutionName",),
    "JobHistory": ("CompanyName",),
    "EmailAddresses": ("EmailAddress",),
    "Orders": ("OrderId", "ProductId"),
}
BOUNDS = {"Latitude": Decimal(90), "Longitude": Decimal(180), "TotalAmount": Decimal(10**9)}
ORDERED_DATES = {"Groups": ("BeginDate", "EndDate"), "Education": ("StartDate", "EndDate"),
                 "JobHistory": ("StartDate", "EndDate")}  # fmt: skip
GROUP_ATTRIBUTES = ("GroupName", "GroupType", "GroupSubType")
ABSENT = object()


@dataclass
class Value:
    """A value as pushed (`raw`, ABSENT to leave the property out) and as it must read back."""

    raw: Any
    expected: Any


@dataclass
class Case:
    """A generated record: the JSON to push and the read-back it must produce."""

    raw: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)


def expected_utc(moment: datetime) -> str:
    """The read-back form: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


@st.composite
def datetimes(draw: st.DrawFn) -> Value:
    """A DateTime in one of the accepted forms, and its normalised UTC reading."""
    moment = draw(
        st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2099, 12, 30))
    ).replace(tzinfo=UTC)
    form = draw(st.sampled_from(["Z", "offset", "naive", "date"]))
    if form == "date":
        return Value(f"{moment:%Y-%m-%d}", f"{moment:%Y-%m-%d}T00:00:00.000Z")
    offset = timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))) if form == "offset" else None
    local = moment.astimezone(timezone(offset)) if offset is not None else moment
    digits = draw(st.integers(0, 7))
    ticks = f"{local.microsecond:06d}0"[:digits]  # .NET writes up to 7 fraction digits
    if offset is None:
        zone = "Z" if form == "Z" else ""
    else:
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(offset) // timedelta(minutes=1)
        zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    raw = f"{local:%Y-%m-%dT%H:%M:%S}" + (f".{ticks}" if digits else "") + zone
    # Digits past the millisecond are dropped before converting to UTC.
    millis = int(ticks[:3].ljust(3, "0"))
    return Value(raw, expected_utc(local.replace(microsecond=millis * 1000)))


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)
# A letter, digit, punctuation or symbol somewhere makes a string non-blank.
VISIBLE = st.characters(categories=("L", "N", "P", "S"))
NON_BLANK = st.builds(lambda before, visible, after: before + visible + after, TEXT, VISIBLE, TEXT)
BLANK = st.sampled_from(["", " ", "   ", "\t", "\n "])


def spellings(value: bool) -> st.SearchStrategy[Any]:
    word = "true" if value else "false"
    return st.sampled_from([value, word, word.upper(), word.capitalize()])


@st.composite
def values(draw: st.DrawFn, kind: str, name: str) -> Value:
    """A present, non-null value of `kind` (blank strings included: they read back as null)."""
    if kind == DT:
        return draw(st.one_of(datetimes(), BLANK.map(lambda b: Value(b, None))))
    if kind == BOOL:
        flag = draw(st.booleans())
        return draw(st.one_of(spellings(flag).map(lambda raw: Value(raw, flag)),
                              st.just(Value("", None))))  # fmt: skip
    if kind == INT:
        low = 0 if name == "Quantity" else -(2**31)
        number = draw(st.integers(low, 2**31 - 1))
        return Value(draw(st.sampled_from([number, str(number)])), number)
    if kind == DEC:
        bound = BOUNDS[name]
        places = draw(st.integers(0, 7))
        number = draw(st.decimals(-bound, bound, places=places, allow_nan=False))
        as_number = orjson.Fragment(str(number).encode())
        return Value(draw(st.sampled_from([as_number, str(number)])), number)
    if kind == ID:
        text = draw(NON_BLANK)
        return Value(text, text)
    text = draw(st.one_of(NON_BLANK, BLANK))
    return Value(text, None if text == "" or text.isspace() else text)


@st.composite
def property_names(draw: st.DrawFn, name: str) -> str:
    """A spelling of a property name; names match case-insensitively."""
    return draw(st.sampled_from([name, name.lower(), name.upper(), name[0].lower() + name[1:]]))


@st.composite
def objects(draw: st.DrawFn, kind_of: str, forced: dict[str, Value] | None = None) -> Case:
    """An object of one table: each field absent, null, or a value in one of its spellings."""
    case = Case()
    kinds = KINDS[kind_of]
    for name in CONTACT_INFO_FIELDS[kind_of]:
        if forced is not None and name in forced:
            value = forced[name]
        else:
            value = draw(
                st.one_of(
                    st.just(Value(ABSENT, None)),
                    st.just(Value(None, None)),
                    values(kinds.get(name, "string"), name),
                )
            )
        if value.raw is not ABSENT:
            case.raw[draw(property_names(name))] = value.raw
        case.expected[name] = value.expected
    return case


def put_dates_in_order(case: Case, kind_of: str) -> None:
    """Swap begin and end when generated the wrong way round (an end before its begin is a 400)."""
    if kind_of not in ORDERED_DATES:
        return
    begin, end = ORDERED_DATES[kind_of]
    first, last = case.expected[begin], case.expected[end]
    if first is None or last is None or last >= first:
        return
    case.expected[begin], case.expected[end] = last, first
    keys = {key.lower(): key for key in case.raw}
    begin_key, end_key = keys[begin.lower()], keys[end.lower()]
    case.raw[begin_key], case.raw[end_key] = case.raw[end_key], case.raw[begin_key]


@st.composite
def entries(draw: st.DrawFn, kind_of: str) -> Case:
    forced = {name: draw(values(ID, name)) for name in REQUIRED.get(kind_of, ())}
    if kind_of == "Groups":
        group_id = draw(st.sampled_from(["G1", "G2", "g1"]))
        forced["GroupId"] = Value(group_id, group_id)
        role = draw(st.sampled_from([None, "Chair", "Member", "", " "]))
        forced["Role"] = Value(role, role if role and role.strip() else None)
    case = draw(objects(kind_of, forced))
    put_dates_in_order(case, kind_of)
    return case


@st.composite
def details(draw: st.DrawFn) -> Case:
    live = [Value(ABSENT, False), Value(None, False), Value(False, False), Value("false", False)]
    forced = {
        "ContactId": draw(values(ID, "ContactId")),
        "IsDeleted": draw(st.sampled_from(live)),
    }
    case = draw(objects("ContactDetails", forced))
    keys = {key.lower(): key for key in case.raw}
    # SPEC 4.1: an organization needs OrganizationName, an individual FirstName or LastName.
    if case.expected["IsOrganization"] is True:
        if case.expected["OrganizationName"] is None:
            case.raw[keys.get("organizationname", "OrganizationName")] = "Org"
            case.expected["OrganizationName"] = "Org"
    elif case.expected["FirstName"] is None and case.expected["LastName"] is None:
        case.raw[keys.get("lastname", "LastName")] = "Last"
        case.expected["LastName"] = "Last"
    return case


def expected_groups(pushed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Memberships as read back: the last entry of each (GroupId, Role) in the order of those
    entries, each showing its group's last non-null attributes."""
    attributes: dict[str, dict[str, Any]] = {}
    last: dict[tuple[str, Any], int] = {}
    for position, entry in enumerate(pushed):
        current = attributes.setdefault(entry["GroupId"], dict.fromkeys(GROUP_ATTRIBUTES))
        current.update({k: entry[k] for k in GROUP_ATTRIBUTES if entry[k] is not None})
        last[(entry["GroupId"], entry["Role"])] = position
    kept = [e for p, e in enumerate(pushed) if last[(e["GroupId"], e["Role"])] == p]
    return [{**entry, **attributes[entry["GroupId"]]} for entry in kept]


@st.composite
def contact_infos(draw: st.DrawFn) -> Case:
    contact = draw(details())
    case = Case({draw(property_names("ContactDetails")): contact.raw},
                {"ContactDetails": contact.expected})  # fmt: skip
    for name in COLLECTIONS:
        form = draw(st.sampled_from(["absent", "null", "list"]))
        items = draw(st.lists(entries(name), max_size=2)) if form == "list" else []
        if form != "absent":
            case.raw[draw(property_names(name))] = (
                [i.raw for i in items] if form == "list" else None
            )
        case.expected[name] = [i.expected for i in items]
    case.expected["Groups"] = expected_groups(case.expected["Groups"])
    return case


def tagged(value: Any) -> Any:
    """A value with its JSON type made explicit, so True never equals 1 nor "1.0" equal 1.0."""
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | Decimal):
        return ("number", Decimal(value))
    return value


def dump(records: list[Any]) -> bytes:
    def decimal(value: Any) -> orjson.Fragment:
        if isinstance(value, Decimal):
            return orjson.Fragment(str(value).encode())
        raise TypeError(type(value).__name__)

    return orjson.dumps(records, default=decimal)


@settings(
    max_examples=40,
    deadline=None,
    # The explain phase replays a failure hundreds of times; the shrunk example is enough here.
    phases=[phase for phase in Phase if phase is not Phase.explain],
    # One tenant is made per example, so the function-scoped fixtures hold no state between them.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=contact_infos(), keep_meta=st.booleans())
def test_pushed_record_reads_back_normalised_and_repushes_unchanged(
    client, make_tenant, case, keep_meta
):
    tenant = make_tenant()
    first = client.post("/v2/contactinfo", content=dump([case.raw]), headers=tenant.headers)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1, first.text
    contact_id = case.expected["ContactDetails"]["ContactId"]
    response = client.get(contact_path(contact_id), headers=tenant.headers)
    assert response.status_code == 200, response.text
    back = json.loads(response.text, parse_float=Decimal)
    meta = back["Meta"] if keep_meta else back.pop("Meta")
    assert tagged({k: v for k, v in back.items() if k != "Meta"}) == tagged(case.expected)
    again = client.post("/v2/contactinfo", content=dump([back]), headers=tenant.headers)
    assert again.status_code == 200, again.text
    answer = again.json()
    assert (answer["created"], answer["updated"], answer["unchanged"]) == (0, 0, 1), answer
    after = json.loads(client.get(contact_path(contact_id), headers=tenant.headers).text)
    assert after["Meta"] == meta
