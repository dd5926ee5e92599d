"""Apply the Alembic migrations (`pushapi db upgrade`, and before every other command)."""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

# The first key of the advisory lock held while migrating on PostgreSQL ("migr" in ASCII); the
# per-tenant push locks use another first key (store/engine.py), so the two never collide.
MIGRATION_LOCK_SPACE = 0x6D696772


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "pushapi:migrations")
    return config


def pending_revisions(engine: Engine) -> bool:
    """Whether the database is behind the newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current != head


def upgrade_database(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there.

    Several servers may start at once on one database (API nodes behind a load balancer): the
    migrations run in one transaction under a database-wide lock, so the first server applies
    them and the others wait, then find the schema at the newest revision.
    """
    if not pending_revisions(engine):
        return
    config = alembic_config()
    with engine.connect().execution_options(write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, 0)"), {"space": MIGRATION_LOCK_SPACE}
            )
        else:
            # SQLite: the write transaction (BEGIN IMMEDIATE) is the lock.
            conn.exec_driver_sql("SELECT 1")
        # Alembic runs inside the transaction begun above and reads the revision under the lock.
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
