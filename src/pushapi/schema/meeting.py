"""The Meeting object of `/v2/meeting`: full replace, soft delete (SPEC 4.3)."""

from collections.abc import Iterator
from functools import cache
from zoneinfo import available_timezones

from pushapi.schema.fields import Field, Need, ObjectSchema, Record, Rule, dates_in_order
from pushapi.schema.values import LONG_TEXT_MAX_LENGTH, Kind

STR, DT = Kind.STRING, Kind.DATETIME


@cache
def _time_zones() -> dict[str, str]:
    """The IANA time zone names this system knows, by their lower-case spelling."""
    return {name.lower(): name for name in available_timezones()}


def _time_zone_known(record: Record) -> Iterator[tuple[str, str]]:
    """SPEC 4.3: TimeZone is an IANA name such as America/New_York, spelled exactly."""
    name = record["TimeZone"]
    if name is None:
        return
    canonical = _time_zones().get(name.lower())
    if canonical == name:
        return
    message = f"expected an IANA time zone name such as 'America/New_York', got {name[:60]!r}"
    if canonical is not None:
        message += f"; did you mean {canonical!r}?"
    yield "TimeZone", message


MEETING = ObjectSchema(
    "Meeting",
    (
        Field("MeetingId", Kind.ID, Need.REQUIRED, "Unique ID of the meeting"),
        Field("Title", STR, Need.REQUIRED_UNLESS_DELETED),
        Field("Description", STR, doc="HTML supported", max_length=LONG_TEXT_MAX_LENGTH),
        Field("MeetingType", STR),
        Field("BeginDate", DT),
        Field("EndDate", DT, doc="Not before BeginDate"),
        Field("TimeZone", STR, doc="IANA time zone name, e.g. America/New_York (exact spelling)"),
        Field("RegistrationOpenDate", DT),
        Field("RegistrationCloseDate", DT),
        Field("Price", STR, doc='Free text, e.g. "10.00, 25.00"'),
        Field("LocationName", STR),
        Field("AddressLine1", STR),
        Field("AddressLine2", STR),
        Field("City", STR),
        Field("State", STR),
        Field("PostalCode", STR),
        Field("Country", STR),
        Field("Url", STR),
        Field("IsDeleted", Kind.BOOL, doc="Soft delete; when true only MeetingId is required"),
    ),
    doc="A meeting or event; each push replaces the whole stored meeting",
    rules=(dates_in_order("BeginDate", "EndDate"), Rule(("TimeZone",), _time_zone_known)),
    deletion_field="IsDeleted",
)
