# cython: language_level=3, boundscheck=False, wraparound=False
"""The normalisation of a contact for storage in native code (built from this Cython source at
install), the twin of what `contacts.prepare_contact` does in Python, which stays the reference.

`contact_parts` takes only the usual case: a record whose Groups entries are distinct by
(GroupId, Role) and whose e-mail addresses are plausible. It returns None, with the record left
untouched, for anything else, and prepare_contact then does the work in Python and warns.
tests/test_native.py compares both on random records.
"""

from pushapi.schema.native cimport plausible_email


def contact_parts(
    dict record, tuple collections, tuple group_attributes, tuple references,
):
    """For a valid, non-deleted ContactInfo record of the usual case, normalise it in place as
    prepare_contact does and return (membership rows, group attributes, references, orders);
    else None, without changing the record."""
    cdef dict details = record["ContactDetails"]
    cdef object contact_id = details["ContactId"]
    cdef object groups = record["Groups"]
    cdef object emails = record["EmailAddresses"]
    cdef dict entry
    cdef set seen
    cdef object key, primary
    cdef Py_ssize_t position
    # The checks first, so that the record is left as it was when the Python path must warn.
    if groups is not None:
        seen = set()
        for entry in <list>groups:
            key = (entry["GroupId"], entry["Role"])
            if key in seen:
                return None  # a repeated (GroupId, Role): a warning
            seen.add(key)
    primary = details["PrimaryEmailAddress"]
    if primary is not None and not plausible_email(<str>primary):
        return None
    if emails is not None:
        for entry in <list>emails:
            if not plausible_email(<str>entry["EmailAddress"]):
                return None
    # SPEC 4 full replace: a collection left out (or null) is an empty collection.
    for name in collections:
        if record[name] is None:
            record[name] = []
    details["IsDeleted"] = None  # the stored state is a column, not part of the content
    cdef list attributes = []
    cdef list rows = []
    cdef object group_id, role
    position = 0
    for entry in <list>record["Groups"]:
        group_id = entry["GroupId"]
        role = entry["Role"]
        attributes.append((group_id, *[entry.pop(name) for name in group_attributes]))
        rows.append(
            (position, group_id, role, entry["InitialJoinDate"], entry["BeginDate"],
             entry["EndDate"])
        )
        position += 1
    cdef list referring = []
    for name in references:
        key = details[name]
        if key is not None and key != contact_id:
            referring.append((f"ContactDetails.{name}", key))
    cdef list orders = []
    position = 0
    for entry in <list>record["Orders"]:
        orders.append((position, entry["ProductId"]))
        position += 1
    return rows, attributes, referring, orders
