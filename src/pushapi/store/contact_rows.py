"""A valid ContactInfo record normalised for storage: its stored document and the rows that go
with it (memberships, group attributes, references, orders).

This is the one source of the rule. `pip install` compiles it with Cython (pure-Python mode, as
SQLAlchemy does with its own modules); without a C compiler it runs as it is, with the same
results. It judges nothing: the warnings of a record are found when it is read
(schema/warnings.py).
"""

from pushapi.schema.contact import (
    CONTACT_INFO,
    CONTACT_REFERENCES,
    GROUP_ATTRIBUTES,
    NOT_ON_ESSENTIALS,
)
from pushapi.schema.values import Kind

COLLECTIONS = tuple(f.name for f in CONTACT_INFO.fields if f.kind is Kind.OBJECT_LIST)
# The memberships table's columns after (tenant_id, contact_id): what contact_parts' rows hold.
MEMBERSHIP_COLUMNS = ("position", "group_id", "role", "initial_join_date", "begin_date", "end_date")


def contact_parts(record: dict, essentials: bool) -> tuple[list, list, list, list]:  # type: ignore[type-arg]
    """Normalise a valid, non-deleted record for storage, in place, and return its membership
    rows (MEMBERSHIP_COLUMNS), its groups' attributes [(GroupId, Name, Type, SubType)] in
    array order, its references to other contacts [(path, ContactId)] and its orders
    [(position, ProductId)]."""
    details: dict = record["ContactDetails"]  # type: ignore[type-arg]
    contact_id = details["ContactId"]
    if essentials:
        for name in NOT_ON_ESSENTIALS:
            record[name] = None  # SPEC 4.1: not stored on community-essentials
    for name in COLLECTIONS:
        # SPEC 4 full replace: a collection left out (or null) is an empty collection.
        if record[name] is None:
            record[name] = []
    details["IsDeleted"] = None  # the stored state is a column, not part of the content
    entries: list = record["Groups"]  # type: ignore[type-arg]
    attributes = []
    for entry in entries:
        # SPEC 4.1: the group's own attributes go to the group, not to the membership.
        attributes.append((entry["GroupId"], *[entry.pop(name) for name in GROUP_ATTRIBUTES]))
    if len(entries) > 1:
        entries = record["Groups"] = _last_of_each_membership(entries)
    rows = [
        (
            position,
            entry["GroupId"],
            entry["Role"],
            entry["InitialJoinDate"],
            entry["BeginDate"],
            entry["EndDate"],
        )
        for position, entry in enumerate(entries)
    ]
    references = []
    for name in CONTACT_REFERENCES:
        target = details[name]
        if target is not None and target != contact_id:
            references.append((f"ContactDetails.{name}", target))
    orders = [(position, order["ProductId"]) for position, order in enumerate(record["Orders"])]
    return rows, attributes, references, orders


def _last_of_each_membership(entries: list) -> list:  # type: ignore[type-arg]
    """SPEC 4.1: (GroupId, Role) identifies a membership; a later entry replaces an earlier."""
    last_position: dict = {}  # type: ignore[type-arg]
    for position, entry in enumerate(entries):
        last_position[(entry["GroupId"], entry["Role"])] = position
    if len(last_position) == len(entries):
        return entries
    return [
        entry
        for position, entry in enumerate(entries)
        if last_position[(entry["GroupId"], entry["Role"])] == position
    ]
