"""Data-quality rules of one record (SPEC 3.1: warnings, never rejections) that need no stored
data: malformed e-mail addresses, a membership given twice, duplicate list ids, collections a
platform does not store. Warnings that depend on stored data (an unknown ContactId, ProductId or
list member) are found where the push is applied (store/)."""

from collections import Counter
from collections.abc import Iterable

try:
    import cython  # Cython's pure-Python mode: read when this file is compiled
except ModuleNotFoundError:  # pragma: no cover - run as plain Python, without Cython installed
    from pushapi import cython_shim as cython

from pushapi.schema.contact import MEMBERSHIP_KEY, NOT_ON_ESSENTIALS
from pushapi.schema.fields import Record, Report
from pushapi.tenants import ESSENTIALS

# Ids named in one warning; the warning gives the total, the push log caps warnings anyway.
NAMED_IDS = 10


def plausible_email(text: str) -> bool:
    """Whether `text` looks like something@something.tld, without spaces: a full match of
    `[^@\\s]+@[^@\\s]+\\.[^@\\s]+` (str.isspace() is what \\s matches)."""
    at = text.find("@")
    return (
        at >= 1
        and text.find("@", at + 1) == -1
        and text.find(".", at + 2, len(text) - 1) != -1
        and not _has_space(text)
    )


@cython.cfunc
def _has_space(text: str) -> cython.bint:
    char: cython.Py_UCS4
    for char in text:  # noqa: SIM110 - a loop Cython compiles to C; any() would call a generator
        if char.isspace():
            return True
    return False


def named_ids(ids: Iterable[str]) -> str:
    """Ids for a message: the first NAMED_IDS in order, and how many more."""
    ordered = sorted(ids)
    shown = ", ".join(repr(i) for i in ordered[:NAMED_IDS])
    more = len(ordered) - NAMED_IDS
    return f"{shown} and {more} more" if more > 0 else shown


def contact_warnings(record: Record, index: int, platform: str, report: Report) -> None:
    """The warnings of a valid ContactInfo record (SPEC 4.1); a deletion has none."""
    if record["ContactDetails"]["IsDeleted"] is True:
        return  # SPEC 4.1: a deletion needs only ContactId; the rest of the record is not read
    if platform == ESSENTIALS:
        for name in NOT_ON_ESSENTIALS:
            if record[name]:
                count = len(record[name])
                report.warn(
                    index, name, f"not stored on community-essentials; {count} entries ignored"
                )
    groups = record["Groups"]
    if groups and len(groups) > 1:
        _warn_repeated_memberships(groups, index, report)
    primary = record["ContactDetails"]["PrimaryEmailAddress"]
    if primary is not None and not plausible_email(primary):
        report.warn(index, "ContactDetails.PrimaryEmailAddress", "not a valid e-mail address")
    for position, email in enumerate(record["EmailAddresses"] or ()):
        if not plausible_email(email["EmailAddress"]):
            path = f"EmailAddresses[{position}].EmailAddress"
            report.warn(index, path, "not a valid e-mail address")


def _warn_repeated_memberships(groups: list[Record], index: int, report: Report) -> None:
    """SPEC 4.1: (GroupId, Role) identifies a membership; a later entry replaces an earlier."""
    last_position: dict[tuple[str, str | None], int] = {}
    for position, entry in enumerate(groups):
        key = (entry[MEMBERSHIP_KEY[0]], entry[MEMBERSHIP_KEY[1]])
        earlier = last_position.get(key)
        if earlier is not None:
            report.warn(
                index,
                f"Groups[{earlier}]",
                f"same GroupId and Role as Groups[{position}], which replaces it",
            )
        last_position[key] = position


def list_warnings(record: Record, index: int, _platform: str, report: Report) -> None:
    """SPEC 4.2: duplicate ids collapse; SPEC 3.1: duplicates are a data-quality warning."""
    ids = record["ContactIds"] or []
    if len(set(ids)) == len(ids):
        return
    repeated = {contact_id: n for contact_id, n in Counter(ids).items() if n > 1}
    extra = sum(repeated.values()) - len(repeated)
    report.warn(index, "ContactIds", f"{extra} duplicate ids counted once: {named_ids(repeated)}")
