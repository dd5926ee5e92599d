"""The List object of `/v2/list`, the one push with partial modes (SPEC 4.2)."""

from collections.abc import Iterator
from enum import Enum

from pushapi.schema.fields import Field, Need, ObjectSchema, Record, Rule
from pushapi.schema.values import Kind


class ListMode(Enum):
    """What a list record does with its ContactIds."""

    ADD = "Add"
    REMOVE = "Remove"
    REPLACE = "Replace"


# SPEC 4.2: Mode matches in any letter case, and Append is a synonym of Add.
LIST_MODES = {
    "add": ListMode.ADD,
    "append": ListMode.ADD,
    "remove": ListMode.REMOVE,
    "replace": ListMode.REPLACE,
}
# The modes in any letter case, as a regular expression (for the OpenAPI document).
MODE_PATTERN = "^(?:{})$".format(
    "|".join("".join(f"[{c.upper()}{c}]" for c in mode) for mode in LIST_MODES)
)


def list_mode(record: Record) -> ListMode:
    """The mode of a validated list record."""
    return LIST_MODES[record["Mode"].lower()]


def _mode_known(record: Record) -> Iterator[tuple[str, str]]:
    """SPEC 4.2: Mode is one of Add, Append, Remove, Replace (a missing one is reported apart)."""
    mode = record["Mode"]
    if mode is not None and mode.lower() not in LIST_MODES:
        yield "Mode", f"expected Add, Append, Remove or Replace (any letter case), got {mode!r}"


LIST = ObjectSchema(
    "List",
    (
        Field("ListId", Kind.ID, Need.REQUIRED, "Unique ID of the list"),
        Field(
            "ListName",
            Kind.STRING,
            doc="Updates the list's name when given; a new list without one is named by its ListId",
        ),
        Field("ListType", Kind.STRING, doc="Updates the list's type when given"),
        Field(
            "Mode",
            Kind.STRING,
            Need.REQUIRED,
            "Add (or Append): members become the union; Remove: the difference; Replace: exactly "
            "ContactIds (empty or left out clears the list). Any letter case",
            pattern=MODE_PATTERN,
        ),
        Field(
            "ContactIds",
            Kind.ID_LIST,
            doc="ContactIds of the members to add, remove or keep; duplicates collapse, "
            "contacts not known yet are kept as members (a warning)",
        ),
    ),
    doc="A static list of contacts; the only object pushed in parts",
    rules=(Rule(("Mode",), _mode_known),),
)
