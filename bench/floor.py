"""The floor: the least work any correct implementation must do to store a batch.

For each request body: parse the JSON (decimals exactly, as SPEC 3.1 requires), then in one
transaction write the same data with set-based driver calls into normalised tables (contacts,
memberships, addresses, phones, e-mails, demographics), deleting the previous child rows first on a
re-push. No validation, no hashing, no HTTP: what is left is parsing and the database.
SQLite runs with WAL and synchronous=FULL like the server; PostgreSQL through psycopg 3.
"""

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import psycopg

TENANT_ID = 1
DETAILS = (
    "ContactId",
    "FirstName",
    "LastName",
    "MiddleName",
    "Prefix",
    "Suffix",
    "InformalName",
    "PrimaryEmailAddress",
    "OrganizationName",
    "Title",
    "Designation",
    "ContactType",
    "Gender",
    "Age",
    "Birthday",
    "MemberSince",
    "MemberExpiresOn",
    "IsMember",
    "IsOrganization",
    "DoNotEmail",
    "ExcludeFromDirectory",
    "Bio",
    "WebsiteURL",
    "LinkedinURL",
    "IsDeleted",
)
MEMBERSHIP = ("GroupId", "Role", "InitialJoinDate", "BeginDate", "EndDate")
ADDRESS = (
    "AddressName",
    "AddressLine1",
    "AddressLine2",
    "City",
    "StateProvince",
    "PostalCode",
    "CountryCode",
    "AddressType",
    "Latitude",
    "Longitude",
    "DoNotPublish",
    "IsBill",
    "IsShip",
    "IsMail",
    "IsPrimary",
)
PHONE = ("FormattedNumber", "PhoneType", "IsPreferred", "IsSmsPreferred", "DoNotPublish")
EMAIL = ("EmailAddress", "EmailType", "IsPreferred", "DoNotPublish")
DEMOGRAPHIC = ("DemographicName", "DemographicValue")
# child table -> (the ContactInfo collection it holds, its fields)
CHILDREN = {
    "memberships": ("Groups", MEMBERSHIP),
    "addresses": ("Addresses", ADDRESS),
    "phones": ("PhoneNumbers", PHONE),
    "emails": ("EmailAddresses", EMAIL),
    "demographics": ("Demographics", DEMOGRAPHIC),
}
DECIMAL_FIELDS = {"Latitude", "Longitude"}
INTEGER_FIELDS = {"Age"}
BOOLEAN_PREFIXES = ("Is", "Do", "Exclude")


def _column(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _column_type(name: str, engine: str) -> str:
    if name in DECIMAL_FIELDS:
        return "NUMERIC(9, 6)" if engine == "postgresql" else "TEXT"
    if name in INTEGER_FIELDS:
        return "INTEGER"
    if name.startswith(BOOLEAN_PREFIXES):
        return "BOOLEAN"
    return "TEXT"


def schema_statements(engine: str) -> list[str]:
    """CREATE TABLE statements of the normalised layout; every key starts with tenant_id."""
    detail_columns = ", ".join(f"{_column(n)} {_column_type(n, engine)}" for n in DETAILS[1:])
    statements = [
        "CREATE TABLE contacts (tenant_id INTEGER NOT NULL, contact_id TEXT NOT NULL, "
        f"{detail_columns}, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
        "PRIMARY KEY (tenant_id, contact_id))"
    ]
    for table, (_, names) in CHILDREN.items():
        columns = ", ".join(f"{_column(n)} {_column_type(n, engine)}" for n in names)
        statements.append(
            f"CREATE TABLE {table} (tenant_id INTEGER NOT NULL, contact_id TEXT NOT NULL, "
            f"position INTEGER NOT NULL, {columns}, PRIMARY KEY (tenant_id, contact_id, position))"
        )
    statements.append("CREATE INDEX ix_memberships_group ON memberships (tenant_id, group_id)")
    statements.append(
        "CREATE TABLE list_members (tenant_id INTEGER NOT NULL, list_id TEXT NOT NULL, "
        "contact_id TEXT NOT NULL, PRIMARY KEY (tenant_id, list_id, contact_id))"
    )
    return statements


class Rows:
    """One batch flattened into the rows of each table."""

    def __init__(self, records: list[dict[str, Any]], now: str) -> None:
        details = [record["ContactDetails"] for record in records]
        self.contact_ids = [d["ContactId"] for d in details]
        self.contacts = [(TENANT_ID, *map(d.get, DETAILS), now, now) for d in details]
        self.children: dict[str, list[tuple[Any, ...]]] = {}
        for table, (collection, names) in CHILDREN.items():
            self.children[table] = [
                (TENANT_ID, contact_id, position, *map(item.get, names))
                for contact_id, record in zip(self.contact_ids, records, strict=True)
                for position, item in enumerate(record.get(collection) or ())
            ]


def _placeholders(count: int, mark: str) -> str:
    return ", ".join([mark] * count)


class FloorStore(Protocol):
    def transaction(self) -> AbstractContextManager[Any]: ...
    def store(self, rows: Rows, repush: bool) -> None: ...
    def add_to_list(self, list_id: str, ids: Sequence[str]) -> None: ...
    def close(self) -> None: ...


def _insert_sql(table: str, width: int, mark: str) -> str:
    return f"INSERT INTO {table} VALUES ({_placeholders(width, mark)})"


def _upsert_sql(mark: str) -> str:
    columns = ["tenant_id", *(_column(n) for n in DETAILS), "created_at", "updated_at"]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:] if c != "created_at")
    return (
        f"INSERT INTO contacts ({', '.join(columns)}) VALUES ({_placeholders(len(columns), mark)}) "
        f"ON CONFLICT (tenant_id, contact_id) DO UPDATE SET {updates}"
    )


class SqliteFloor:
    """The floor on SQLite: sqlite3, WAL, synchronous=FULL, BEGIN IMMEDIATE per batch."""

    def __init__(self, path: str) -> None:
        # sqlite3 has no exact decimal type: the digits are stored as text.
        sqlite3.register_adapter(Decimal, str)
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        for statement in schema_statements("sqlite"):
            self.conn.execute(statement)
        self.upsert = _upsert_sql("?")

    def transaction(self) -> AbstractContextManager[Any]:
        return _SqliteTransaction(self.conn)

    def store(self, rows: Rows, repush: bool) -> None:
        cur = self.conn.cursor()
        if repush:
            # One statement per table: the batch's ids travel as one JSON array parameter.
            ids = json.dumps(rows.contact_ids)
            for table in CHILDREN:
                cur.execute(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND contact_id IN "
                    "(SELECT value FROM json_each(?))",
                    (TENANT_ID, ids),
                )
            cur.executemany(self.upsert, rows.contacts)
        else:
            cur.executemany(_insert_sql("contacts", len(rows.contacts[0]), "?"), rows.contacts)
        for table, table_rows in rows.children.items():
            if table_rows:
                cur.executemany(_insert_sql(table, len(table_rows[0]), "?"), table_rows)

    def add_to_list(self, list_id: str, ids: Sequence[str]) -> None:
        self.conn.executemany(
            "INSERT INTO list_members VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(TENANT_ID, list_id, cid) for cid in ids],
        )

    def close(self) -> None:
        self.conn.close()


class _SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


class PostgresFloor:
    """The floor on PostgreSQL: psycopg 3, COPY for new rows, executemany for the upsert."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url)
        with self.conn.transaction():
            for statement in schema_statements("postgresql"):
                self.conn.execute(statement)
        self.upsert = _upsert_sql("%s")

    def transaction(self) -> AbstractContextManager[Any]:
        return self.conn.transaction()

    def store(self, rows: Rows, repush: bool) -> None:
        cur = self.conn.cursor()
        if repush:
            for table in CHILDREN:
                cur.execute(
                    f"DELETE FROM {table} WHERE tenant_id = %s AND contact_id = ANY(%s)",
                    (TENANT_ID, rows.contact_ids),
                )
            cur.executemany(self.upsert, rows.contacts)
        else:
            self._copy(cur, "contacts", rows.contacts)
        for table, table_rows in rows.children.items():
            self._copy(cur, table, table_rows)

    @staticmethod
    def _copy(cur: psycopg.Cursor[Any], table: str, rows: list[tuple[Any, ...]]) -> None:
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def add_to_list(self, list_id: str, ids: Sequence[str]) -> None:
        cur = self.conn.cursor()
        cur.execute(
            "INSERT INTO list_members SELECT %s, %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
            (TENANT_ID, list_id, list(ids)),
        )

    def close(self) -> None:
        self.conn.close()


def load_json(body: bytes) -> Any:
    """Parse a body as the server must: decimals exact (SPEC 3.1), so no binary floats."""
    return json.loads(body, parse_float=Decimal)


class Timing(NamedTuple):
    seconds: float
    cpu_seconds: float  # of this process only: on PostgreSQL the server's work is not in it


def run_contact_floor(store: FloorStore, bodies: Sequence[bytes], repush: bool) -> Timing:
    """Store every body, one transaction each; return the time it took."""
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        rows = Rows(load_json(body), now)
        with store.transaction():
            store.store(rows, repush)
    return Timing(time.perf_counter() - started, time.process_time() - cpu)


def run_list_floor(store: FloorStore, body: bytes) -> Timing:
    """Add the ids of a /v2/list body to its list in one transaction; return the time it took."""
    started, cpu = time.perf_counter(), time.process_time()
    for record in load_json(body):
        ids = list(dict.fromkeys(record["ContactIds"]))  # SPEC 4.2: duplicates collapse
        with store.transaction():
            store.add_to_list(record["ListId"], ids)
    return Timing(time.perf_counter() - started, time.process_time() - cpu)


@contextmanager
def open_floor(engine: str, target: str) -> Iterator[FloorStore]:
    """A floor store on `target` (a SQLite path or a PostgreSQL URL), closed afterwards."""
    store: FloorStore = SqliteFloor(target) if engine == "sqlite" else PostgresFloor(target)
    try:
        yield store
    finally:
        store.close()
