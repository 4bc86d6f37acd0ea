"""Alembic environment. Run through ``dllab.db.migrate.upgrade(url)``, which the control
plane calls on start; ``alembic`` on the command line works too with ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from dllab.db.models import Base

config = context.config
url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
if not url:
    raise SystemExit("give the database URL: alembic -x url=sqlite:///.dllab/dllab.db upgrade head")

connection = config.attributes.get("connection")


def run(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=conn.dialect.name == "sqlite",  # SQLite alters tables by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with create_engine(url).connect() as conn:
        run(conn)
