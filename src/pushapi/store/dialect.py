"""Bulk statements of the apply-a-push code, and every difference between SQLite and PostgreSQL
they need, in one place: key lookups, IN lists, inserts, updates and deletes of a whole batch.

The hot statements go straight to the driver's cursor with plain tuples (`_run`): SQLAlchemy's
statement building, execution context and result rows cost as much as the database's own work
for a push of 1,000 contacts, and several times it for a push of one (docs/benchmark.md, "How
the push path is built").
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Dialect, Select, Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, StatementError

T = TypeVar("T")

# Well under SQLite's limit of 32,766 bound parameters and PostgreSQL's 65,535.
IN_CHUNK = 5000
# Rows per UPDATE ... FROM (VALUES ...): a few thousand parameters per statement.
UPDATE_CHUNK = 500
# On Citus, updates of at least this many rows rewrite them (DELETE ... RETURNING, then COPY).
REWRITE_FROM = 100


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def is_distributed(conn: Connection) -> bool:
    """Whether the database is a Citus coordinator (asked once per database connection)."""
    if not is_postgresql(conn):
        return False
    info = conn.connection.info
    if "citus" not in info:
        found = conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        info["citus"] = found.first() is not None
    return bool(info["citus"])


def across_tenants(conn: Connection) -> None:
    """Say that the statements that follow, in this transaction, reach every tenant on purpose
    (a deliverer's poll, an operator's listing). On Citus each goes to every shard: the test
    suite raises `citus.multi_task_query_log_level` to `error`, so that any other statement that
    Citus cannot route to one shard fails (docs/operations.md); this lowers it again."""
    if is_distributed(conn):
        conn.exec_driver_sql("SET LOCAL citus.multi_task_query_log_level = 'off'")


def _run(
    conn: Connection, statement: str, parameters: Any, many: bool = False, planned: bool = False
) -> Any:
    """Execute `statement` (the driver's own SQL and placeholders) on the driver's cursor of
    `conn`, each of a list of parameter tuples with `many`; the cursor. With `planned`,
    PostgreSQL plans it with these values, every time (see rows_by_key).

    What SQLAlchemy's execution would add is kept: listeners of `before_cursor_execute` see the
    statement (the tests that record statements), a driver error is raised as SQLAlchemy's
    (an OperationalError stays one: 503, not 500), and a connection the error shows to be lost
    is invalidated. A connection outside a transaction begins one, as SQLAlchemy's would.
    """
    if not conn.in_transaction():
        conn.begin()  # what SQLAlchemy's autobegin does: the caller commits or closes it
    driver_connection = conn.connection.driver_connection
    cursor = driver_connection.cursor()  # type: ignore[union-attr]
    listeners = conn.dispatch.before_cursor_execute
    if listeners:
        for listener in listeners:
            listener(conn, cursor, statement, parameters, None, many)
    try:
        if many:
            cursor.executemany(statement, parameters)
        elif planned and is_postgresql(conn):
            cursor.execute(statement, parameters, prepare=False)
        else:
            cursor.execute(statement, parameters)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _raised(conn, error, statement, parameters, cursor, many) from error
    return cursor


def _raised(
    conn: Connection,
    error: Any,
    statement: str,
    parameters: Any,
    cursor: Any = None,
    many: bool = False,
    driver_connection: Any = None,
) -> StatementError:
    """The driver's `error` as SQLAlchemy raises it, the connection invalidated if it is lost."""
    if driver_connection is None:
        driver_connection = conn.connection.driver_connection
    lost = conn.dialect.is_disconnect(error, driver_connection, cursor)
    if lost and not conn.invalidated:
        conn.invalidate(error)
    raised: StatementError = DBAPIError.instance(
        statement,
        parameters,
        error,
        conn.dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=conn.dialect,
        ismulti=many,
    )
    return raised


# The driver connections in a `pipelined` block, and their pipelines, for run_driver. Keyed by
# the driver's connection, not kept on the pool's record of it: a connection found lost is
# invalidated and its record goes back to the pool at once, to be checked out by another thread
# before the block has ended.
_PIPELINES: dict[Any, Any] = {}


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """Send the statements of the block without waiting for each one's answer (PostgreSQL's
    pipeline mode): those whose rows are not read in the block cost one round trip together, at
    its end; run_driver waits for the answers so far when it reads rows. An error is raised
    where its answer comes, as `_run` raises it. Nothing changes on SQLite. Only the driver's
    statements (`_run`, `run_driver` and the helpers below) may run in the block, not a COPY
    nor SQLAlchemy's own execution, which reads each answer at once."""
    if not is_postgresql(conn) or conn.connection.driver_connection in _PIPELINES:
        yield
        return
    if not conn.in_transaction():
        conn.begin()  # (as _run would)
    driver_connection: Any = conn.connection.driver_connection
    try:
        with driver_connection.pipeline() as pipeline:
            _PIPELINES[driver_connection] = pipeline
            try:
                yield
            finally:
                _PIPELINES.pop(driver_connection, None)
    except conn.dialect.loaded_dbapi.Error as error:
        statement = "(pipelined statements)"
        raise _raised(conn, error, statement, None, None, False, driver_connection) from error


def _mark(conn: Connection) -> str:
    """The driver's placeholder: psycopg's %s or sqlite3's ?."""
    return "%s" if is_postgresql(conn) else "?"


def _quoted(conn: Connection, table: Table, names: Iterable[str]) -> tuple[str, list[str]]:
    """The table's name and the `names`, quoted as the database needs."""
    name, quoted = _quoted_once(conn.dialect, table, tuple(names))
    return name, list(quoted)


@cache
def _quoted_once(dialect: Dialect, table: Table, names: tuple[str, ...]) -> tuple[str, list[str]]:
    quote = dialect.identifier_preparer.quote
    return quote(table.name), [quote(name) for name in names]


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def select_in(
    conn: Connection, query: Select[Any], column: Column[Any], values: Iterable[Any]
) -> list[Any]:
    """Run `query` restricted to `column IN values`, a chunk of values at a time."""
    ordered = sorted(set(values))
    if not ordered:
        return []  # no round trip to the database for nothing
    if is_postgresql(conn):
        # One array parameter, `= ANY(...)`: no statement of thousands of parameters to build,
        # send and plan.
        wanted = bindparam("select_in_values", type_=ARRAY(column.type))
        statement = query.where(column == any_(wanted))
        return list(conn.execute(statement, {"select_in_values": ordered}).all())
    rows: list[Any] = []
    for chunk in chunks(ordered):
        rows.extend(conn.execute(query.where(column.in_(chunk))).all())
    return rows


def rows_by_key(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    tenant_id: int,
    key_column: str,
    keys: Iterable[str],
    *,
    live_only: bool = False,
) -> list[tuple[Any, ...]]:
    """The `columns` of a tenant's rows whose `key_column` is one of `keys` (at most one row per
    key), as plain tuples; `live_only` leaves soft-deleted rows out.

    On PostgreSQL each key is looked up by itself (`unnest` and a LATERAL subquery with LIMIT 1),
    which keeps the plan an index lookup per key even before the table has statistics (with
    `= ANY(array)` a push right after a bulk load read the whole tenant). The statement is not
    prepared: a plan made for any values while the table was small or never analysed (with
    autovacuum off, or before it ran) could look the keys up through another index of the
    tenant, and psycopg's prepared statement kept it as the table grew; pushes of 10 contacts
    then read the whole tenant for each key, 73-99 ms each against 10 ms while the tenant
    grew to 17,000 contacts (docs/benchmark.md, "Measured choices"). On SQLite: `IN (...)`, a
    chunk at a time.
    """
    ordered = sorted(set(keys))
    if not ordered:
        return []
    name, quoted = _quoted(conn, table, (*columns, key_column))
    *selected, key = quoted
    mark = _mark(conn)
    where = f"{name}.tenant_id = {mark}" + (" AND NOT is_deleted" if live_only else "")
    select_sql = f"SELECT {', '.join(selected)} FROM {name} WHERE {where} AND {key}"
    if is_postgresql(conn):
        statement = (
            "SELECT found.* FROM unnest(%s::varchar[]) AS wanted(key)"
            f" CROSS JOIN LATERAL ({select_sql} = wanted.key LIMIT 1) AS found"
        )
        return list(_run(conn, statement, (ordered, tenant_id), planned=True).fetchall())
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks(ordered):
        statement = f"{select_sql} IN ({', '.join('?' for _ in chunk)})"
        rows.extend(_run(conn, statement, (tenant_id, *chunk)).fetchall())
    return rows


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) with one driver call: COPY on PostgreSQL,
    executemany on SQLite. Values go through their column types' bind processing, as with
    `conn.execute(insert(table), rows)`, at about half its cost."""
    if rows:
        names = list(rows[0])
        insert_values(conn, table, names, [tuple(row.values()) for row in rows])


def insert_values(
    conn: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """insert_rows for rows given as tuples of the `names` columns' values."""
    if not rows:
        return
    if is_postgresql(conn):
        with streamed_inserts(conn, table, names) as write:
            for row in rows:
                write(row)
        return
    _insert_each(conn, table, names, rows)


def insert_few(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """insert_rows for the row or two a push adds to its log and its change feed: one INSERT
    executemany on either engine. On plain PostgreSQL a COPY of one row costs the same; on
    Citus a COPY into a distributed table costs several times a single-shard INSERT
    (docs/benchmark.md, "Measured choices")."""
    if rows:
        _insert_each(conn, table, list(rows[0]), [tuple(row.values()) for row in rows])


def _insert_each(
    conn: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """One INSERT of the `names` columns, executed for each row (a driver executemany)."""
    name, quoted = _quoted(conn, table, names)
    marks = ", ".join(_mark(conn) for _ in names)
    _run(
        conn,
        f"INSERT INTO {name} ({', '.join(quoted)}) VALUES ({marks})",
        _processed(conn, table, names, rows),
        many=True,
    )


def streams_inserts(conn: Connection) -> bool:
    """Whether streamed_inserts can be used on this connection (PostgreSQL's COPY)."""
    return is_postgresql(conn)


@contextmanager
def streamed_inserts(
    conn: Connection, table: Table, names: Sequence[str]
) -> Iterator[Callable[[tuple[Any, ...]], None]]:
    """A function that inserts one row of the `names` columns' values, all rows in one COPY
    (PostgreSQL only). Rows are sent as they come, so the database stores each (on the other
    CPU) while the caller prepares the next, instead of waiting for the whole batch."""
    assert streams_inserts(conn)
    process = _processor(conn, table, names)
    with _copy(conn, table, names) as copy:
        write_row = copy.write_row
        yield lambda row: write_row(process(row))


@contextmanager
def _copy(conn: Connection, table: Table, names: Sequence[str]) -> Iterator[Any]:
    """psycopg's COPY ... FROM STDIN into the `names` columns of `table`. On Citus in PostgreSQL's
    binary format, where psycopg knows every column's type: Citus parses a text row before the
    shard's own copy parses it again; 1,000 contacts took 11-12 ms so against 26-27 ms as text
    on the node that holds the tenant. On plain PostgreSQL in text: there a COPY alone was
    faster in binary too (10-12 against 13-24 ms), but a first load of 1,000 contacts whose
    rows are copied while the next are prepared was 5-8% slower (docs/benchmark.md, "On
    Citus"). In binary the values must be of the columns' own Python types (str, int, bool,
    aware datetimes, as the bind processing gives them): it does not convert, as the text form
    does. A driver error is raised as `_run` raises it (a lost connection or a deadlock: 503,
    not 500)."""
    name, quoted = _quoted(conn, table, names)
    types = _binary_types(conn.dialect, table, tuple(names)) if is_distributed(conn) else None
    form = " WITH (FORMAT binary)" if types is not None else ""
    statement = f"COPY {name} ({', '.join(quoted)}) FROM STDIN{form}"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            if types is not None:
                copy.set_types(types)
            yield copy
    except conn.dialect.loaded_dbapi.Error as error:
        raise _raised(conn, error, statement, None, cursor) from error


# SQLAlchemy's names of PostgreSQL types that psycopg knows by another.
_TYPE_ALIASES = {"float": "float8"}


@cache
def _binary_types(dialect: Dialect, table: Table, names: tuple[str, ...]) -> list[str] | None:
    """The PostgreSQL types of the `names` columns, as psycopg names them; None if psycopg
    does not know one of them (the COPY is then in text format)."""
    from psycopg import adapters

    types = []
    for name in names:
        compiled = table.c[name].type.dialect_impl(dialect).compile(dialect=dialect)
        base = compiled.split("(")[0].lower()
        info = adapters.types.get(_TYPE_ALIASES.get(base, base))
        if info is None:
            return None
        types.append(info.name)
    return types


def update_rows(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """UPDATE one row per dict (all with the same keys, one tenant), found by its `keys` columns,
    to the dict's other values: one driver executemany (pipelined by psycopg on PostgreSQL). On a
    distributed database (Citus), where each statement is a round trip from the coordinator to a
    worker, restricted to the tenant so that it goes to one shard: an `UPDATE ... FROM (VALUES
    ...)` per 500 rows, or from REWRITE_FROM rows on, the rows rewritten (`_rewrite`). Plain
    PostgreSQL runs the executemany faster (docs/benchmark.md, "Measured choices")."""
    if not rows:
        return
    names = list(rows[0])
    values = _processed(conn, table, names, [tuple(row.values()) for row in rows])
    changed = [name for name in names if name not in keys]
    if is_distributed(conn):
        if len(values) >= REWRITE_FROM:
            _rewrite(conn, table, keys, names, values)
        else:
            _update_from_values(conn, table, keys, names, changed, values)
        return
    name, quoted_changed = _quoted(conn, table, changed)
    _, quoted_keys = _quoted(conn, table, keys)
    order = [names.index(name) for name in (*changed, *keys)]
    mark = _mark(conn)
    assignments = ", ".join(f"{column} = {mark}" for column in quoted_changed)
    matches = " AND ".join(f"{name}.{column} = {mark}" for column in quoted_keys)
    _run(
        conn,
        f"UPDATE {name} SET {assignments} WHERE {matches}",
        [tuple(row[position] for position in order) for row in values],
        many=True,
    )


def _one_tenant(names: list[str], values: list[tuple[Any, ...]]) -> int:
    tenant_at = names.index("tenant_id")
    tenants = {row[tenant_at] for row in values}
    assert len(tenants) == 1, "update_rows updates the rows of one tenant"
    return int(tenants.pop())


def _rewrite(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    names: list[str],
    values: list[tuple[Any, ...]],
) -> None:
    """update_rows on Citus for many rows: one `DELETE ... RETURNING` of the rows, for the
    columns not updated, then one COPY of the rows whole, in the push's transaction. The
    coordinator parses every value of an `UPDATE ... FROM (VALUES ...)` and a worker parses it
    again; 1,000 contacts rewritten so took 77-80 ms where the two UPDATEs took 101-145 ms
    (docs/benchmark.md, "After the driver-cursor change"). A row that is not stored is not
    written, as with UPDATE; of two rows with one key, the last counts, as with the executemany."""
    tenant_id = _one_tenant(names, values)
    (key,) = [column for column in keys if column != "tenant_id"]
    kept = [column.name for column in table.columns if column.name not in names]
    name, quoted = _quoted(conn, table, (key, *kept))
    key_at = names.index(key)
    last = {row[key_at]: row for row in values}
    returned = _run(
        conn,
        f"DELETE FROM {name} WHERE {name}.tenant_id = %s AND {quoted[0]} = ANY(%s::varchar[])"
        f" RETURNING {', '.join(quoted)}",
        (tenant_id, list(last)),
    ).fetchall()
    with _copy(conn, table, (*names, *kept)) as copy:
        for stored_key, *other in returned:
            copy.write_row((*last[stored_key], *other))


def _update_from_values(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    names: list[str],
    changed: list[str],
    values: list[tuple[Any, ...]],
) -> None:
    """update_rows on Citus: `UPDATE ... FROM (VALUES ...)` joined by key, a chunk of rows per
    statement, each restricted to the one tenant of the rows (a single-shard statement)."""
    tenant_id = _one_tenant(names, values)
    matched = [key for key in keys if key != "tenant_id"]
    columns = [*matched, *changed]
    name, quoted = _quoted(conn, table, columns)
    types = [table.c[column].type.compile(dialect=conn.dialect) for column in columns]
    first_row = "(" + ", ".join(f"%s::{type_}" for type_ in types) + ")"
    other_row = "(" + ", ".join("%s" for _ in types) + ")"
    assignments = ", ".join(f"{column} = batch.{column}" for column in quoted[len(matched) :])
    matches = "".join(f" AND {name}.{column} = batch.{column}" for column in quoted[: len(matched)])
    positions = [names.index(column) for column in columns]
    for chunk in chunks(values, UPDATE_CHUNK):
        rows = ", ".join([first_row, *(other_row for _ in range(len(chunk) - 1))])
        parameters = [row[position] for row in chunk for position in positions]
        _run(
            conn,
            f"UPDATE {name} SET {assignments} FROM (VALUES {rows}) AS batch({', '.join(quoted)})"
            f" WHERE {name}.tenant_id = %s{matches}",
            (*parameters, tenant_id),
        )


def delete_in(
    conn: Connection, table: Table, tenant_id: int, column: str, values: Iterable[str]
) -> None:
    """DELETE a tenant's rows whose `column` is one of the string `values`: `= ANY(array)` on
    PostgreSQL, `IN (...)` a chunk at a time on SQLite."""
    ordered = sorted(set(values))
    if not ordered:
        return
    name, (quoted,) = _quoted(conn, table, (column,))
    if is_postgresql(conn):
        _run(
            conn,
            f"DELETE FROM {name} WHERE {name}.tenant_id = %s AND {quoted} = ANY(%s::varchar[])",
            (tenant_id, ordered),
        )
        return
    for chunk in chunks(ordered):
        marks = ", ".join("?" for _ in chunk)
        _run(
            conn,
            f"DELETE FROM {name} WHERE {name}.tenant_id = ? AND {quoted} IN ({marks})",
            (tenant_id, *chunk),
        )


def delete_pairs(
    conn: Connection,
    table: Table,
    tenant_id: int,
    columns: tuple[str, str],
    pairs: Sequence[tuple[str, str]],
) -> None:
    """DELETE a tenant's rows whose two string `columns` hold one of `pairs`: one statement with
    two array parameters on PostgreSQL, an executemany on SQLite."""
    if not pairs:
        return
    name, (first, second) = _quoted(conn, table, columns)
    if is_postgresql(conn):
        _run(
            conn,
            f"DELETE FROM {name} WHERE {name}.tenant_id = %s AND ({first}, {second}) IN"
            " (SELECT * FROM unnest(%s::varchar[], %s::varchar[]))",
            (tenant_id, [a for a, _ in pairs], [b for _, b in pairs]),
        )
        return
    _run(
        conn,
        f"DELETE FROM {name} WHERE {name}.tenant_id = ? AND {first} = ? AND {second} = ?",
        [(tenant_id, a, b) for a, b in pairs],
        many=True,
    )


def _processed(
    conn: Connection, table: Table, names: Sequence[str], values: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The rows' values as driver parameters (see _processor)."""
    process = _processor(conn, table, names)
    return [process(row) for row in values]


def _processor(
    conn: Connection, table: Table, names: Sequence[str]
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function giving a row's values as driver parameters: through their column types' bind
    processing, done once per distinct value (most processed values are one: the push's time)."""
    processors = _bind_processors(conn.dialect, table, tuple(names))
    if not processors:
        return lambda row: row
    done: dict[Any, Any] = {}

    def process(row: tuple[Any, ...]) -> tuple[Any, ...]:
        processed = list(row)
        for position, processor in processors.items():
            key = (position, row[position])
            if key not in done:
                done[key] = processor(row[position])
            processed[position] = done[key]
        return tuple(processed)

    return process


@cache
def _bind_processors(
    dialect: Dialect, table: Table, names: tuple[str, ...]
) -> dict[int, Callable[[Any], Any]]:
    """The bind processing of the `names` columns that have any, by position: asked of the
    column types once, not on every statement."""
    return {
        position: processor
        for position, name in enumerate(names)
        if (processor := table.c[name].type.bind_processor(dialect)) is not None
    }


def insert_if_absent(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """INSERT one row unless a row with its primary key exists (then nothing): whether it was
    inserted. On PostgreSQL a concurrent insert of the same key waits for the other to end."""
    insert = postgresql.insert if is_postgresql(conn) else sqlite.insert
    first_key = next(iter(table.primary_key.columns))
    statement = insert(table).values(**row).on_conflict_do_nothing().returning(first_key)
    return conn.execute(statement).first() is not None


def insert_or_add(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], added: tuple[str, ...]
) -> None:
    """INSERT rows (dicts with the same keys); where a row with the same primary key exists, add
    the `added` columns of the new row to it instead (one executemany; counters kept per key)."""
    if rows:
        names = tuple(rows[0])
        values = _processed(conn, table, names, [tuple(row.values()) for row in rows])
        _run(conn, _insert_or_add(conn.dialect, table, names, added), values, many=True)


@cache
def _insert_or_add(
    dialect: Dialect, table: Table, names: tuple[str, ...], added: tuple[str, ...]
) -> str:
    """The statement of insert_or_add, written once per dialect, table and columns."""
    quote = dialect.identifier_preparer.quote
    mark = "%s" if dialect.name == "postgresql" else "?"
    name = quote(table.name)
    keys = ", ".join(quote(column.name) for column in table.primary_key.columns)
    sums = ", ".join(f"{quote(c)} = {name}.{quote(c)} + excluded.{quote(c)}" for c in added)
    return (
        f"INSERT INTO {name} ({', '.join(quote(c) for c in names)})"
        f" VALUES ({', '.join(mark for _ in names)}) ON CONFLICT ({keys}) DO UPDATE SET {sums}"
    )


def run_driver(conn: Connection, statement: str, parameters: Any) -> list[tuple[Any, ...]]:
    """Run `statement`, written with sqlite3's `?` marks, on the driver (with psycopg's `%s` on
    PostgreSQL); the rows it returns. For the few statements every push runs, SQLAlchemy's
    execution of a built statement costs several times the database's own work
    (docs/benchmark.md)."""
    postgres = is_postgresql(conn)
    cursor = _run(conn, _for_driver(postgres, statement), parameters)
    pipeline = _PIPELINES.get(conn.connection.driver_connection) if postgres else None
    if pipeline is not None:
        try:
            pipeline.sync()  # its answer, and those of the statements sent before it
        except conn.dialect.loaded_dbapi.Error as error:
            raise _raised(conn, error, statement, parameters, cursor) from error
    return [] if cursor.description is None else list(cursor.fetchall())


@cache
def _for_driver(postgres: bool, statement: str) -> str:
    assert "%" not in statement, "a literal % would need escaping for psycopg"
    return statement.replace("?", "%s") if postgres else statement
