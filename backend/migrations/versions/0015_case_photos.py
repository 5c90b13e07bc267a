"""The child's photo of a case, and what each kiosk's notice photos last showed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from backend.db.base import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_photos",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_photos_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_photos")),
    )
    with op.batch_alter_table("notice_boards") as batch:
        batch.add_column(sa.Column("notices_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("photos", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_boards") as batch:
        batch.drop_column("photos")
        batch.drop_column("notices_digest")
    op.drop_table("case_photos")
