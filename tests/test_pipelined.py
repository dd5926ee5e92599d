"""`dialect.pipelined`: statements sent together on PostgreSQL (pipeline mode), answered and
failing as if sent one by one; nothing different on SQLite."""

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, create_engine
from sqlalchemy.exc import IntegrityError, OperationalError

from pushapi.store.dialect import insert_few, pipelined, run_driver

scratch = Table("pipelined_scratch", MetaData(), Column("k", Integer, primary_key=True))


@pytest.fixture
def conn(engine: Engine):
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE pipelined_scratch (k INTEGER PRIMARY KEY)")
        conn.commit()
        yield conn
        conn.rollback()
        conn.exec_driver_sql("DROP TABLE pipelined_scratch")
        conn.commit()


def test_statements_of_a_block_are_all_applied_and_rows_read_in_it_are_answered(conn):
    with pipelined(conn):
        insert_few(conn, scratch, [{"k": 1}, {"k": 2}])
        assert run_driver(conn, "SELECT count(*) FROM pipelined_scratch", ()) == [(2,)]
        insert_few(conn, scratch, [{"k": 3}])
    assert run_driver(conn, "SELECT k FROM pipelined_scratch ORDER BY k", ()) == [(1,), (2,), (3,)]


def test_an_error_in_a_block_is_raised_as_sqlalchemy_raises_it_and_nothing_is_kept(conn):
    with pytest.raises(IntegrityError), pipelined(conn):
        insert_few(conn, scratch, [{"k": 1}])
        insert_few(conn, scratch, [{"k": 1}])  # the same key: refused at the block's end
    conn.rollback()
    assert run_driver(conn, "SELECT count(*) FROM pipelined_scratch", ()) == [(0,)]


def test_blocks_nest_and_the_connection_works_after_them(conn):
    with pipelined(conn):
        with pipelined(conn):
            insert_few(conn, scratch, [{"k": 1}])
        insert_few(conn, scratch, [{"k": 2}])
    conn.commit()
    assert run_driver(conn, "SELECT count(*) FROM pipelined_scratch", ()) == [(2,)]


def test_a_connection_lost_in_a_block_leaves_nothing_for_the_next_user_of_its_pool_slot(
    settings, engine_name
):
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's pipeline mode")
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    used = []
    try:
        # The block ends on a closed connection: raised as SQLAlchemy's OperationalError (503).
        with pytest.raises(OperationalError), engine.connect() as conn, pipelined(conn):
            run_driver(conn, "SELECT 1", ())
            conn.invalidate()  # as when the connection is found lost: its slot is free again
            with engine.connect() as other:  # the same slot, a new connection
                assert run_driver(other, "SELECT 2", ()) == [(2,)]
                with pipelined(other):
                    insert_few(other, scratch_in(other), [{"k": 1}])
                assert run_driver(other, "SELECT count(*) FROM pipelined_scratch", ()) == [(1,)]
                used.append(other)
        assert used
    finally:
        engine.dispose()


def scratch_in(conn: Connection) -> Table:
    conn.exec_driver_sql("CREATE TEMPORARY TABLE pipelined_scratch (k INTEGER PRIMARY KEY)")
    return scratch
