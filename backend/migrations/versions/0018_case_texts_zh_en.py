"""A case's title and public description in Chinese and in English (optional).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-11
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("title_zh", sa.String(200), nullable=True))
        batch.add_column(sa.Column("title_en", sa.String(200), nullable=True))
        batch.add_column(sa.Column("description_zh", sa.Text(), nullable=True))
        batch.add_column(sa.Column("description_en", sa.Text(), nullable=True))


def downgrade() -> None:
    for column in ("description_en", "description_zh", "title_en", "title_zh"):
        if op.get_bind().dialect.name == "sqlite":
            # SQLite (3.35+) drops a plain column in place. Alembic's batch mode would copy
            # ``cases`` into a new table and rename it, which the foreign keys of the tables
            # that reference cases refuse (the connection enforces them).
            op.execute(f"ALTER TABLE cases DROP COLUMN {column}")
        else:
            op.drop_column("cases", column)
