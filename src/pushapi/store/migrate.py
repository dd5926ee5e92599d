"""Apply the Alembic migrations (`pushapi db upgrade`, and before every other command)."""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


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
    """Bring the database to the newest schema; a no-op when it is already there."""
    if not pending_revisions(engine):
        return
    config = alembic_config()
    with engine.connect().execution_options(write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
