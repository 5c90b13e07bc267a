"""Alembic environment: the URL comes from the caller (backend.db.migrate) or SR_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from geoalchemy2 import alembic_helpers

from backend.db.engine import init_spatial_metadata, make_engine
from backend.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ["SR_DATABASE_URL"]
    engine = make_engine(url)
    init_spatial_metadata(engine)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=alembic_helpers.include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
