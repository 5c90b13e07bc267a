"""Per-device rate-limit state shared by all workers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_rate_state",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("tat_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_rate_state")),
    )


def downgrade() -> None:
    op.drop_table("device_rate_state")
