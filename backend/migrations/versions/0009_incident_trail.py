"""Incidents keep the running sums of their travel fit (geo.TrailMoments).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("trail", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (PostgreSQL; SQLite >= 3.35): a batch copy of the table would trip
    # over the foreign keys that point at it.
    op.execute("ALTER TABLE incidents DROP COLUMN trail")
