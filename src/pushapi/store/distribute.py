"""Distributing the schema over a Citus cluster (`pushapi db distribute`, docs/operations.md).

Which table becomes what is read from the table declarations, so that tables added later are
handled without a list to keep up to date:

- a table with a `tenant_id` column is distributed by `tenant_id`, all of them co-located, so
  that every statement of a request goes to the one shard group of its tenant;
- a table without one, or declared with `info={"citus": "reference"}` (`tenants` and
  `api_keys`: how a request finds its tenant, written by operators only), is a reference table,
  held whole by every node;
- `alembic_version`, which no request reads, stays a local table of the coordinator.

Tables already distributed are left as they are, so the command can run again after a
migration has added tables. It refuses, naming what is missing, on a database that is not a
Citus coordinator with active workers, and when a table to distribute already holds rows (unless
told to move them: `existing_data=True`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, MetaData, Table, text

from pushapi.store.dialect import is_distributed

DISTRIBUTION_COLUMN = "tenant_id"


class DistributeError(Exception):
    """A database that cannot be distributed as it is: the message says what is expected."""


@dataclass(frozen=True)
class Layout:
    """What each table becomes: reference tables, then distributed ones (the first is the one
    the others are co-located with)."""

    reference: tuple[str, ...]
    distributed: tuple[str, ...]


def is_reference(table: Table) -> bool:
    return table.info.get("citus") == "reference" or DISTRIBUTION_COLUMN not in table.c


def layout(metadata: MetaData) -> Layout:
    """The layout of the tables of `metadata`, in dependency order."""
    tables = metadata.sorted_tables
    return Layout(
        tuple(t.name for t in tables if is_reference(t)),
        tuple(t.name for t in tables if not is_reference(t)),
    )


def active_workers(conn: Connection) -> list[tuple[str, int]]:
    """The active worker nodes registered in this database (host, port)."""
    rows = conn.exec_driver_sql(
        "SELECT nodename, nodeport FROM pg_dist_node"
        " WHERE isactive AND noderole = 'primary' AND groupid <> 0 ORDER BY nodeid"
    ).all()
    return [(str(host), int(port)) for host, port in rows]


def _current(conn: Connection) -> dict[str, str]:
    """The tables Citus already knows: name -> 'reference', 'distributed' or 'local'."""
    rows = conn.exec_driver_sql(
        "SELECT logicalrelid::regclass::text, partmethod, repmodel FROM pg_dist_partition"
    ).all()
    kinds = {}
    for name, method, model in rows:
        if method == "h":
            kinds[name.strip('"')] = "distributed"
        elif method == "n" and model == "t":
            kinds[name.strip('"')] = "reference"
        else:
            kinds[name.strip('"')] = "local"
    return kinds


def _holds_rows(conn: Connection, name: str) -> bool:
    quoted = conn.dialect.identifier_preparer.quote(name)
    return conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {quoted})").scalar() is True


def plan_statements(
    plan: Layout,
    current: dict[str, str],
    holds_rows: Callable[[str], bool],
    *,
    existing_data: bool = False,
) -> list[list[str]]:
    """The statements that distribute what `current` (_current) does not yet have, one list per
    table (each run in a transaction of its own); refused (DistributeError) when a table is
    already of another kind, or holds rows and `existing_data` is False."""
    wanted = [(name, "reference") for name in plan.reference]
    wanted += [(name, "distributed") for name in plan.distributed]
    for name, kind in wanted:
        if current.get(name, kind) != kind:
            raise DistributeError(
                f"table {name} is already a Citus {current[name]} table; expected a {kind} table"
            )
    todo = [(name, kind) for name, kind in wanted if name not in current]
    if not existing_data:
        for name, _kind in todo:
            if holds_rows(name):
                raise DistributeError(
                    f"table {name} holds rows: distribute an empty database (right after"
                    " pushapi db upgrade), or pass --existing-data to move them to the"
                    " workers (with every pushapi server stopped)"
                )
    already = [name for name in plan.distributed if current.get(name) == "distributed"]
    anchor = already[0] if already else None
    planned = []
    for name, kind in todo:
        if kind == "reference":
            statement = f"SELECT create_reference_table('{name}')"
        elif anchor is None:
            statement = f"SELECT create_distributed_table('{name}', '{DISTRIBUTION_COLUMN}')"
            anchor = name
        else:
            statement = (
                f"SELECT create_distributed_table('{name}', '{DISTRIBUTION_COLUMN}',"
                f" colocate_with => '{anchor}')"
            )
        statements = [statement]
        if existing_data:
            statements.append(f"SELECT truncate_local_data_after_distributing_table('{name}')")
        planned.append(statements)
    return planned


def distribute(
    engine: Engine,
    metadata: MetaData,
    *,
    existing_data: bool = False,
    say: Callable[[str], None] = lambda _line: None,
) -> list[str]:
    """Make the tables of `metadata` reference and distributed tables (module docstring); the
    statements run, in order (empty when everything was distributed already)."""
    if engine.dialect.name != "postgresql":
        raise DistributeError(
            f"distributing needs a PostgreSQL database with the citus extension,"
            f" not {engine.dialect.name}"
        )
    plan = layout(metadata)
    run: list[str] = []
    with engine.connect().execution_options(write=True) as conn:
        if not is_distributed(conn):
            raise DistributeError(
                "the database has no citus extension: run CREATE EXTENSION citus in it,"
                " on the coordinator and on every worker"
            )
        if not active_workers(conn):
            raise DistributeError(
                "no active Citus worker is registered in this database: run SELECT"
                " citus_set_coordinator_host(host, port) and SELECT citus_add_node(host, port)"
                " for each worker in it first"
            )
        missing = [n for n in (*plan.reference, *plan.distributed) if not _exists(conn, n)]
        if missing:
            raise DistributeError(
                f"table {missing[0]} is missing: run pushapi db upgrade before distributing"
            )
        planned = plan_statements(
            plan,
            _current(conn),
            lambda name: _holds_rows(conn, name),
            existing_data=existing_data,
        )
        conn.rollback()  # the checks' transaction: it wrote nothing
        for statements in planned:
            # A transaction per table: Citus copies a table's rows to the workers over several
            # connections, which a later statement of the same transaction could not use.
            with conn.begin():
                for statement in statements:
                    say(statement)
                    conn.execute(text(statement))
                    run.append(statement)
    return run


def _exists(conn: Connection, name: str) -> bool:
    found = conn.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar()
    return found is not None
