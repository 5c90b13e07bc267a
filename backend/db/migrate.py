"""Run the Alembic migrations programmatically: ``python -m backend.db.migrate [URL]``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (the schema is only ever made this way)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SR_DATABASE_URL", "")
    if not url:
        sys.exit("usage: python -m backend.db.migrate DATABASE_URL (or set SR_DATABASE_URL)")
    upgrade(url)
    print(f"database at {url.split('@')[-1]} is at the latest schema")


if __name__ == "__main__":
    main()
