"""A report may name the case the passenger recognised (SightingReport.case_id).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("case_id", sa.String(64), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (PostgreSQL; SQLite >= 3.35): a batch copy of the table would trip
    # over the foreign keys that point at it.
    op.execute("ALTER TABLE reports DROP COLUMN case_id")
