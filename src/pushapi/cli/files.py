"""Reading the records of a push from a file: a JSON array, NDJSON, or CSV (docs/client.md).

A `RecordFile` is read twice: once when opened, to check the whole file and note the line each
record starts on (so a malformed file fails before anything is sent, and the server's errors,
which name an index in a batch, can be shown by line), and again, lazily, while pushing, so
that a large export is never held in memory as records.

CSV columns of `contactinfo` (names match in any letter case):
  FirstName, ContactDetails.FirstName    a field of ContactDetails
  Groups[0].GroupId, Groups[1].Role      a field of one item of a collection
  Groups.GroupId = "G1|G2"               the simpler form: one item per `|`-separated part
An item whose cells are all blank is left out. Cells stay strings: SPEC 3.1 reads "42", "true"
and "2024-05-01" for int, bool and DateTime fields.
Lists from CSV: one row per member, columns ListId and ContactId (ListName, ListType optional);
the rows of one ListId make one record whose Mode is the `--mode` given (SPEC 4.2).
"""

import csv
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import ObjectSchema

FORMATS = ("json", "ndjson", "csv")
SUFFIXES = {".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
LIST_MODES = ("Add", "Append", "Remove", "Replace")
LIST_COLUMNS = ("ListId", "ContactId", "ListName", "ListType")
DETAILS = "ContactDetails"
_COLUMN = re.compile(r"(?:(?P<owner>[^.\[\]]+)(?:\[(?P<position>\d+)\])?\.)?(?P<field>[^.\[\]]+)")
_INT_DIGITS = 18  # longer JSON integers stay exact as Decimal (orjson writes 64-bit ints only)
Record = dict[str, Any]
RowBuilder = Callable[[list[str]], Record]


class FileProblem(Exception):
    """A file that cannot be read as records; the message says where and why."""


class CsvRows(Protocol):
    """What csv.reader returns: rows, and the number of lines read so far."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...
    def __next__(self) -> list[str]: ...


def detect_format(path: Path, given: str | None = None) -> str:
    """The format named by `given`, else by the file name's suffix."""
    if given is not None:
        if given not in FORMATS:
            raise FileProblem(f"unknown format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise FileProblem(
            "cannot tell the format from the file name; use .json, .ndjson or .csv, or --format"
        )
    return found


def list_mode(mode: str) -> str:
    """A list Mode in its canonical case (SPEC 4.2: any case)."""
    for known in LIST_MODES:
        if mode.lower() == known.lower():
            return known
    raise FileProblem(f"unknown --mode {mode!r}; use one of {', '.join(LIST_MODES)}")


class RecordFile:
    """The records of one file to push to `endpoint`: checked and counted when opened, then read
    again, one at a time, by iterating."""

    def __init__(
        self, path: Path, endpoint: str, file_format: str | None = None, mode: str | None = None
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.format = detect_format(path, file_format)
        self.mode: str | None = None
        if mode is not None:
            if endpoint != "list" or self.format != "csv":
                raise FileProblem("--mode applies to lists read from CSV (JSON lists carry Mode)")
            self.mode = list_mode(mode)
        elif endpoint == "list" and self.format == "csv":
            raise FileProblem("lists from CSV need --mode Add, Remove or Replace")
        self.lines: list[int] = []  # the line each record starts on; empty for a JSON array
        self._held: list[Record] | None = None  # records kept whole (JSON array, CSV lists)
        self._count = 0
        with self._open() as source:
            self._scan(source)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Record]:
        if self._held is not None:
            yield from self._held
            return
        with self._open() as source:
            if self.format == "ndjson":
                yield from (_load(line) for line in source if line.strip())
                return
            rows: CsvRows = csv.reader(source, strict=True)
            build = self._builder(_header(rows))
            yield from (build(row) for _line, row in _rows(rows))

    def line(self, index: int) -> int | None:
        """The line record `index` (0-based) starts on, when the format has lines."""
        return self.lines[index] if 0 <= index < len(self.lines) else None

    def where(self, index: int) -> str:
        line = self.line(index)
        return f"line {line}" if line is not None else f"record {index + 1}"

    @contextmanager
    def _open(self) -> Iterator[IO[str]]:
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as source:
                yield source
        except OSError as error:
            raise FileProblem(f"cannot read the file: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise FileProblem(f"not UTF-8 text (byte {error.start})") from None
        except csv.Error as error:
            raise FileProblem(f"not valid CSV: {error}") from None

    def _builder(self, names: list[str]) -> RowBuilder:
        return _contact_builder(names) if self.endpoint == "contactinfo" else _flat_builder(names)

    def _scan(self, source: IO[str]) -> None:
        if self.format == "json":
            self._held = _read_json(source.read())
        elif self.format == "ndjson":
            for number, text in enumerate(source, 1):
                if text.strip():
                    _check_object(_load_line(text, number), f"line {number}")
                    self.lines.append(number)
        elif self.mode is not None:
            self._held, self.lines = _read_list_csv(csv.reader(source, strict=True), self.mode)
        else:
            rows: CsvRows = csv.reader(source, strict=True)
            names = _header(rows)
            self._builder(names)  # checks the header
            for start, row in _rows(rows):
                _check_width(row, names, start)
                self.lines.append(start)
        self._count = len(self._held) if self._held is not None else len(self.lines)


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text.lstrip("-")) <= _INT_DIGITS else Decimal(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load(text: str) -> Any:
    """JSON as the server reads it: decimals exact, NaN and Infinity refused."""
    return json.loads(
        text, parse_float=Decimal, parse_int=_parse_int, parse_constant=_reject_constant
    )


def _load_line(line: str, number: int) -> Any:
    try:
        return _load(line)
    except (ValueError, RecursionError) as error:
        raise FileProblem(f"line {number}: not valid JSON: {error}") from None


def _check_object(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise FileProblem(f"{where} is not a JSON object")


def _read_json(text: str) -> list[Record]:
    try:
        data = _load(text)
    except (ValueError, RecursionError) as error:
        raise FileProblem(f"not valid JSON: {error}") from None
    if not isinstance(data, list):
        raise FileProblem("a JSON file must hold an array of records (or use .ndjson)")
    for number, item in enumerate(data, 1):
        _check_object(item, f"record {number}")
    return data


@dataclass(frozen=True, slots=True)
class _Column:
    """Where the cells of one CSV column go in a record."""

    owner: str | None  # None: the record itself (or ContactDetails); else a collection
    position: int | None  # Groups[2].X -> 2; None in the `|`-separated form
    name: str


def _rows(rows: CsvRows) -> Iterator[tuple[int, list[str]]]:
    """Non-empty data rows with the line each starts on."""
    while True:
        line = rows.line_num + 1
        row = next(rows, None)
        if row is None:
            return
        if any(cell.strip() for cell in row):
            yield line, row


def _header(rows: CsvRows) -> list[str]:
    header = next(rows, None)
    if header is None:
        raise FileProblem("the file is empty; a CSV file starts with a header line")
    names = [name.strip() for name in header]
    for position, name in enumerate(names, 1):
        if not name:
            raise FileProblem(f"line 1: column {position} has no name")
    return names


def _check_width(row: list[str], names: list[str], line: int) -> None:
    if len(row) != len(names):
        raise FileProblem(f"line {line}: {len(row)} cells, but the header has {len(names)}")


def _unique(columns: list[_Column], names: list[str]) -> None:
    seen: dict[tuple[str | None, int | None, str], str] = {}
    for column, name in zip(columns, names, strict=True):
        key = (column.owner, column.position, column.name.lower())
        if key in seen:
            raise FileProblem(f"line 1: columns {seen[key]!r} and {name!r} name one field")
        seen[key] = name


def _flat_builder(names: list[str]) -> RowBuilder:
    """Columns are the object's own fields (meeting, product)."""
    _unique([_Column(None, None, name) for name in names], names)
    return lambda row: dict(zip(names, row, strict=True))


def _canonical(schema: ObjectSchema | None, name: str) -> str:
    spec = schema.lookup.get(name.lower()) if schema is not None else None
    return spec.name if spec is not None else name


def _contact_column(name: str) -> _Column:
    match = _COLUMN.fullmatch(name)
    if match is None:
        raise FileProblem(
            f"line 1: column {name!r} is not Field, Collection[i].Field or Collection.Field"
        )
    owner = match["owner"] and _canonical(CONTACT_INFO, match["owner"])
    position = None if match["position"] is None else int(match["position"])
    if owner is None or owner == DETAILS:
        if position is not None:
            raise FileProblem(f"line 1: column {name!r}: ContactDetails is not a collection")
        return _Column(None, None, _canonical(CONTACT_INFO[DETAILS].item, match["field"]))
    collection = CONTACT_INFO.lookup.get(owner.lower())
    item = collection.item if collection is not None else None
    return _Column(owner, position, _canonical(item, match["field"]))


Cells = list[tuple[str, int]]  # (field name, column position) of one item


def _contact_builder(names: list[str]) -> RowBuilder:
    """ContactInfo from flat columns: ContactDetails fields and collection items."""
    columns = [_contact_column(name) for name in names]
    _unique(columns, names)
    details: Cells = [(c.name, i) for i, c in enumerate(columns) if c.owner is None]
    indexed: dict[str, dict[int, Cells]] = {}
    piped: dict[str, Cells] = {}
    for i, c in enumerate(columns):
        if c.owner is None:
            continue
        if c.position is None:
            piped.setdefault(c.owner, []).append((c.name, i))
        else:
            indexed.setdefault(c.owner, {}).setdefault(c.position, []).append((c.name, i))
    mixed = sorted(indexed.keys() & piped.keys())
    if mixed:
        raise FileProblem(f"line 1: use either {mixed[0]}[i].Field or {mixed[0]}.Field, not both")
    items = {owner: [by[p] for p in sorted(by)] for owner, by in indexed.items()}

    def build(row: list[str]) -> Record:
        record: Record = {DETAILS: {name: row[i] for name, i in details}}
        for owner, cells_of_items in items.items():
            # An item whose cells are all blank is not there (a row with fewer groups).
            record[owner] = [
                {name: row[i] for name, i in cells}
                for cells in cells_of_items
                if any(row[i].strip() for _, i in cells)
            ]
        for owner, cells in piped.items():
            record[owner] = _piped_items(row, cells)
        return record

    return build


def _piped_items(row: list[str], cells: Cells) -> list[dict[str, str]]:
    """Items of the simpler form: the k-th `|`-separated part of each column makes item k."""
    parts = {name: row[i].split("|") for name, i in cells if row[i].strip()}
    count = max((len(values) for values in parts.values()), default=0)
    found = [
        {name: values[k].strip() for name, values in parts.items() if k < len(values)}
        for k in range(count)
    ]
    return [item for item in found if any(item.values())]


def _read_list_csv(rows: CsvRows, mode: str) -> tuple[list[Record], list[int]]:
    """SPEC 4.2: one record per ListId, its ContactIds the ContactId cells of its rows."""
    names = _header(rows)
    canonical = {name.lower(): name for name in LIST_COLUMNS}
    columns = []
    for name in names:
        if name.lower() not in canonical:
            raise FileProblem(f"line 1: unknown column {name!r}; use {', '.join(LIST_COLUMNS)}")
        columns.append(canonical[name.lower()])
    _unique([_Column(None, None, name) for name in columns], names)
    for required in ("ListId", "ContactId"):
        if required not in columns:
            raise FileProblem(f"line 1: a list CSV needs a {required} column")
    lists: dict[str, Record] = {}
    lines: list[int] = []
    for line, row in _rows(rows):
        _check_width(row, names, line)
        cells = dict(zip(columns, row, strict=True))
        list_id = cells["ListId"]
        if not list_id.strip():
            raise FileProblem(f"line {line}: ListId is blank")
        record = lists.get(list_id)
        if record is None:
            record = lists[list_id] = {"ListId": list_id, "Mode": mode, "ContactIds": []}
            lines.append(line)
        for name in ("ListName", "ListType"):  # the last non-blank value of the list wins
            if name in cells and (cells[name].strip() or name not in record):
                record[name] = cells[name]
        if cells["ContactId"].strip():
            record["ContactIds"].append(cells["ContactId"])
    return list(lists.values()), lines
