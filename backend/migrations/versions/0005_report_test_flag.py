"""Operators' test reports are flagged (stored and receipted, never alerted on).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite supports it with a constant default); batch mode would
    # copy the table, which SpatiaLite's geometry triggers do not survive.
    op.add_column(
        "reports", sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.execute("ALTER TABLE reports DROP COLUMN is_test")
