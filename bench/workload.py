"""The canonical benchmark workload: ContactInfo records shaped like the canonical example.

Each contact has its details, 3 groups (1 membership level, 2 committees), 2 addresses, 2 phones,
2 e-mails and 2 demographics: 12 stored rows in a normalised layout and about 2.9 KB of JSON.
Values are random but deterministic: contact `n` of `variant` v is the same on every machine, and
a different variant gives the same ids with other values (a re-push where every contact changed).
"""

import json
import random
from typing import Any

FIRST_NAMES = (
    "Ada", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jon", "Kira", "Liam", "Mia",
    "Nico", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wes", "Xena", "Yuki",
    "Zoe", "Aria", "Bo", "Cyd", "Dana", "Emil", "Flo", "Gil", "Hugo", "Iris", "Jude", "Kai", "Lena",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Foster", "Garcia", "Hughes", "Ito", "Jones",
    "Khan", "Lopez", "Moore", "Nguyen", "Ortiz", "Patel", "Quinn", "Reyes", "Smith", "Turner",
    "Usman", "Vargas", "Wong", "Young", "Zhang", "Brooks", "Cole", "Dunn", "Ellis", "Ford",
)  # fmt: skip
CITIES = (
    ("Denver", "CO", "80202"), ("Springfield", "IL", "62701"), ("Albany", "NY", "12207"),
    ("Austin", "TX", "73301"), ("Salem", "OR", "97301"), ("Madison", "WI", "53703"),
    ("Boise", "ID", "83702"), ("Dover", "DE", "19901"), ("Helena", "MT", "59601"),
)  # fmt: skip
TITLES = ("Engineer", "Analyst", "Director", "Manager", "Consultant", "Professor", "Nurse")
DESIGNATIONS = ("", "CPA", "PE", "RN", "MBA")
PREFIXES = ("Mr.", "Ms.", "Dr.", "Mx.")
SUFFIXES = ("", "PhD", "Jr.", "III")
GENDERS = ("Female", "Male", "Unspecified")
ROLES = ("Member", "Chair", "Secretary", "Treasurer", "Vice Chair")
ZONES = ("-07:00", "-05:00", "-06:00", "+00:00", "+01:00")
STREETS = ("Chen", "Smith", "Baker", "Garcia", "Oak", "Maple", "Pine", "Lake", "Hill")
LINE2 = ("", "Suite 100", "Apt 4B", "Floor 2")
DEMOGRAPHICS = (
    ("Career Stage", ("Early", "Mid", "Senior", "Retired")),
    ("Industry", ("Energy", "Health", "Education", "Finance", "Retail")),
    ("Specialty", ("Research", "Practice", "Policy", "Teaching")),
)
MEMBERSHIP_LEVELS = 10  # G001..G010
COMMITTEES = 50  # G011..G060


def contact_id(number: int) -> str:
    return f"C{number:06d}"


def _moment(rng: random.Random, first_year: int, last_year: int) -> str:
    """A DateTime with milliseconds and a zone offset, as AMS exports write them."""
    return (
        f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        f".{rng.randint(0, 999):03d}{rng.choice(ZONES)}"
    )


def _address(rng: random.Random, kind: str, primary: bool) -> dict[str, Any]:
    city, state, postal = rng.choice(CITIES)
    return {
        "AddressName": kind,
        "AddressLine1": f"{rng.randint(100, 9999)} {rng.choice(STREETS)} St",
        "AddressLine2": rng.choice(LINE2),
        "City": city,
        "StateProvince": state,
        "PostalCode": postal,
        "CountryCode": "US",
        "AddressType": kind,
        "Latitude": round(rng.uniform(25, 49), 6),
        "Longitude": round(rng.uniform(-124, -67), 6),
        "DoNotPublish": False,
        "IsBill": primary,
        "IsShip": primary,
        "IsMail": True,
        "IsPrimary": primary,
    }


def _group(rng: random.Random, number: int, joined: str, committee: bool) -> dict[str, Any]:
    ended = rng.random() < 0.5
    return {
        "GroupId": f"G{number:03d}",
        "GroupName": f"Committee {number}" if committee else f"Membership Level {number}",
        "GroupType": "Committee" if committee else "Membership",
        "GroupSubType": "Standing" if committee else "Individual",
        "Role": rng.choice(ROLES),
        "InitialJoinDate": joined,
        "BeginDate": _moment(rng, 2010, 2020),
        "EndDate": _moment(rng, 2021, 2030) if ended else None,
    }


def make_contact(number: int, variant: int = 0, bio_padding: int = 0) -> dict[str, Any]:
    """Contact `number` of `variant`: the canonical shape, with deterministic random values."""
    rng = random.Random(f"pushapi-bench:{variant}:{number}")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}.{number}@example.org"
    joined = _moment(rng, 2000, 2015)
    committees = rng.sample(range(MEMBERSHIP_LEVELS + 1, MEMBERSHIP_LEVELS + COMMITTEES + 1), 2)
    (name_a, values_a), (name_b, values_b) = rng.sample(DEMOGRAPHICS, 2)
    bio = f"<p>{first} {last} works in <b>{rng.choice(TITLES).lower()}</b> roles.</p>"
    return {
        "ContactDetails": {
            "ContactId": contact_id(number),
            "FirstName": first,
            "LastName": last,
            "MiddleName": chr(rng.randint(65, 90)),
            "Prefix": rng.choice(PREFIXES),
            "Suffix": rng.choice(SUFFIXES),
            "InformalName": first,
            "PrimaryEmailAddress": email,
            "OrganizationName": f"{rng.choice(LAST_NAMES)} Labs",
            "Title": rng.choice(TITLES),
            "Designation": rng.choice(DESIGNATIONS),
            "ContactType": "Individual",
            "Gender": rng.choice(GENDERS),
            "Age": rng.randint(18, 90),
            "Birthday": f"{rng.randint(1935, 2006)}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}T00:00:00.000Z",
            "MemberSince": joined,
            "MemberExpiresOn": _moment(rng, 2016, 2030),
            "IsMember": rng.random() < 0.8,
            "IsOrganization": False,
            "DoNotEmail": rng.random() < 0.1,
            "ExcludeFromDirectory": False,
            "Bio": bio + "x" * bio_padding,
            "WebsiteURL": f"https://www.{last.lower()}{number}.example.com",
            "LinkedinURL": f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{number}",
            "IsDeleted": False,
        },
        "Groups": [
            _group(rng, rng.randint(1, MEMBERSHIP_LEVELS), joined, committee=False),
            _group(rng, committees[0], joined, committee=True),
            _group(rng, committees[1], joined, committee=True),
        ],
        "Addresses": [_address(rng, "Home", True), _address(rng, "Work", False)],
        "PhoneNumbers": [
            {
                "FormattedNumber": f"555-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
                "PhoneType": kind,
                "IsPreferred": kind == "Mobile",
                "IsSmsPreferred": kind == "Mobile",
                "DoNotPublish": False,
            }
            for kind in ("Mobile", "Work")
        ],
        "EmailAddresses": [
            {
                "EmailAddress": email,
                "EmailType": "Personal",
                "IsPreferred": True,
                "DoNotPublish": False,
            },
            {
                "EmailAddress": f"{first[0].lower()}{last.lower()}{number}@work.example.com",
                "EmailType": "Work",
                "IsPreferred": False,
                "DoNotPublish": False,
            },
        ],
        "Demographics": [
            {"DemographicName": "Region", "DemographicValue": rng.choice(("North", "South"))},
            {"DemographicName": name_a, "DemographicValue": rng.choice(values_a)},
        ]
        if rng.random() < 0.5
        else [
            {"DemographicName": name_a, "DemographicValue": rng.choice(values_a)},
            {"DemographicName": name_b, "DemographicValue": rng.choice(values_b)},
        ],
    }


def batch_bodies(
    contacts: int, batch: int, variant: int = 0, first: int = 1, bio_padding: int = 0
) -> list[bytes]:
    """The request bodies that push contacts first..first+contacts-1, `batch` per request."""
    bodies = []
    for start in range(first, first + contacts, batch):
        stop = min(start + batch, first + contacts)
        records = [make_contact(n, variant, bio_padding) for n in range(start, stop)]
        bodies.append(json.dumps(records).encode())
    return bodies


def body_of_size(target_bytes: int, records: int, first: int) -> bytes:
    """One body of `records` contacts padded (in their Bio) to just under `target_bytes`."""
    plain = batch_bodies(records, records, first=first)[0]
    padding = max(0, (target_bytes - len(plain)) // records - 1)
    return batch_bodies(records, records, first=first, bio_padding=padding)[0]


def list_body(list_id: str, ids: int) -> bytes:
    """A /v2/list push that adds `ids` contact ids to one list."""
    record = {
        "ListId": list_id,
        "ListName": "Benchmark list",
        "ListType": "Static",
        "Mode": "Add",
        "ContactIds": [contact_id(n) for n in range(1, ids + 1)],
    }
    return json.dumps([record]).encode()


# The second workload ("shapes"): the same 12 rows per contact, with the value shapes AMS exports
# write besides the canonical ones, and a sparse change pattern.
WORKLOADS = ("canonical", "shapes")
SHAPES_FIRST = 5_000_001  # ids of the shapes workload, apart from the canonical ones
OFFSETS = ("-05:00", "-04:00", "-06:00", "-07:00", "+02:00")


def _shaped_moment(rng: random.Random, first_year: int, last_year: int) -> str:
    """A DateTime with a zone offset, without milliseconds half of the time."""
    day = f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    millis = f".{rng.randint(0, 999):03d}" if rng.random() < 0.5 else ""
    return f"{day}T{clock}{millis}{rng.choice(OFFSETS)}"


def make_shaped_contact(number: int, variant: int = 0) -> dict[str, Any]:
    """Contact `number` of the shapes workload: blank strings ("Suffix": ""), nulls, an explicit
    "IsDeleted": false, offsets like -05:00, booleans and numbers where the canonical contact
    has them. Variant 1 changes only FirstName and the second address's City (a sparse change:
    everything else is byte for byte the same as variant 0)."""
    rng = random.Random(f"pushapi-bench-shapes:{number}")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if variant:
        first = FIRST_NAMES[(FIRST_NAMES.index(first) + variant) % len(FIRST_NAMES)]
    email = f"{last.lower()}.{number}@example.net"
    joined = _shaped_moment(rng, 2000, 2015)
    committees = rng.sample(range(MEMBERSHIP_LEVELS + 1, MEMBERSHIP_LEVELS + COMMITTEES + 1), 2)
    (name_a, values_a), (name_b, _) = rng.sample(DEMOGRAPHICS, 2)
    addresses = []
    for kind, primary in (("Home", True), ("Work", False)):
        city, state, postal = rng.choice(CITIES)
        addresses.append(
            {
                "AddressName": kind,
                "AddressLine1": f"{rng.randint(100, 9999)} {rng.choice(STREETS)} Ave",
                "AddressLine2": None if rng.random() < 0.5 else "",
                "City": city,
                "StateProvince": state,
                "PostalCode": postal,
                "CountryCode": "US",
                "AddressType": kind,
                "Latitude": None,
                "Longitude": None,
                "DoNotPublish": False,
                "IsBill": primary,
                "IsShip": False,
                "IsMail": primary,
                "IsPrimary": primary,
            }
        )
    if variant:
        city = addresses[1]["City"]
        names = [c[0] for c in CITIES]
        addresses[1]["City"] = names[(names.index(city) + variant) % len(names)]
    groups = []
    for number_of_group, committee in (
        (rng.randint(1, MEMBERSHIP_LEVELS), False),
        (committees[0], True),
        (committees[1], True),
    ):
        groups.append(
            {
                "GroupId": f"G{number_of_group:03d}",
                "GroupName": f"Committee {number_of_group}"
                if committee
                else f"Membership Level {number_of_group}",
                "GroupType": "Committee" if committee else "Membership",
                "GroupSubType": "",
                "Role": None if committee and rng.random() < 0.5 else "Member",
                "InitialJoinDate": joined,
                "BeginDate": _shaped_moment(rng, 2010, 2020),
                "EndDate": None,
            }
        )
    return {
        "ContactDetails": {
            "ContactId": contact_id(number),
            "FirstName": first,
            "LastName": last,
            "MiddleName": "",
            "Prefix": None,
            "Suffix": "",
            "InformalName": None,
            "PrimaryEmailAddress": email,
            "OrganizationName": "" if rng.random() < 0.5 else f"{rng.choice(LAST_NAMES)} & Co",
            "Title": None,
            "Designation": "",
            "ContactType": "Individual",
            "Gender": None,
            "Age": None,
            "Birthday": None,
            "MemberSince": joined,
            "MemberExpiresOn": _shaped_moment(rng, 2016, 2030),
            "IsMember": True,
            "IsOrganization": False,
            "DoNotEmail": False,
            "ExcludeFromDirectory": False,
            "Bio": "",
            "WebsiteURL": None,
            "LinkedinURL": "",
            "IsDeleted": False,
        },
        "Groups": groups,
        "Addresses": addresses,
        "PhoneNumbers": [
            {
                "FormattedNumber": f"({rng.randint(200, 999)}) 555-{rng.randint(0, 9999):04d}",
                "PhoneType": kind,
                "IsPreferred": kind == "Home",
                "IsSmsPreferred": False,
                "DoNotPublish": False,
            }
            for kind in ("Home", "Work")
        ],
        "EmailAddresses": [
            {
                "EmailAddress": email,
                "EmailType": "Personal",
                "IsPreferred": True,
                "DoNotPublish": False,
            },
            {
                "EmailAddress": f"{last.lower()}{number}@work.example.net",
                "EmailType": "",
                "IsPreferred": False,
                "DoNotPublish": False,
            },
        ],
        "Demographics": [
            {"DemographicName": name_a, "DemographicValue": rng.choice(values_a)},
            {"DemographicName": name_b, "DemographicValue": ""},
        ],
    }


def workload_bodies(
    workload: str, contacts: int, batch: int, variant: int = 0, first: int | None = None
) -> list[bytes]:
    """The request bodies of `workload` ("canonical" or "shapes"), `batch` contacts each."""
    if workload == "canonical":
        return batch_bodies(contacts, batch, variant, first or 1)
    start = SHAPES_FIRST if first is None else first
    bodies = []
    for at in range(start, start + contacts, batch):
        stop = min(at + batch, start + contacts)
        records = [make_shaped_contact(n, variant) for n in range(at, stop)]
        bodies.append(json.dumps(records).encode())
    return bodies
