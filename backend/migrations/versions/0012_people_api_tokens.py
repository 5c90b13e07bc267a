"""Per-person API tokens: they replace the shared role tokens (SR_COORDINATOR_TOKEN,
SR_OPERATOR_TOKEN, SR_POLICE_TOKEN) and read exactly what their person may. Only the
SHA-256 of each token is stored.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from backend.db.base import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_api_tokens",
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["username"], ["people.username"], name=op.f("fk_people_api_tokens_username_people")
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_people_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_people_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_people_api_tokens_username"), "people_api_tokens", ["username"])


def downgrade() -> None:
    op.drop_index(op.f("ix_people_api_tokens_username"), table_name="people_api_tokens")
    op.drop_table("people_api_tokens")
