"""Redelivery attempts of messages, for quarantine.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from backend.db.base import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_attempts",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_message_attempts")),
    )
    op.create_index(
        op.f("ix_message_attempts_last_at"), "message_attempts", ["last_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_attempts_last_at"), table_name="message_attempts")
    op.drop_table("message_attempts")
