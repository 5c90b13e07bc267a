"""Reports and dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op  # geoalchemy2.alembic_helpers adds the geospatial ops

from backend.db.base import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table(
        "reports",
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.Geometry("POINT", srid=4326, spatial_index=True, nullable=False),
            nullable=False,
        ),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("location_source", sa.String(16), nullable=False),
        sa.Column("what_seen", sa.String(32), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("clothing_colours", sa.JSON(), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(64), nullable=True),
        sa.Column("free_text", sa.Text(), nullable=True),
        sa.Column("has_photo", sa.Boolean(), nullable=False),
        sa.Column("contact", sa.String(100), nullable=True),
        sa.Column("app_version", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_reports")),
    )
    op.create_index(op.f("ix_reports_device_id"), "reports", ["device_id"])
    op.create_index(op.f("ix_reports_observed_at"), "reports", ["observed_at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("report_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(op.f("ix_dead_letters_received_at"), "dead_letters", ["received_at"])
    op.create_index(op.f("ix_dead_letters_device_id"), "dead_letters", ["device_id"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_geospatial_table("reports")
