"""Devices (kiosks at stations, phones).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op  # geoalchemy2.alembic_helpers adds the geospatial ops

from backend.db.base import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table(
        "devices",
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("station_name", sa.String(128), nullable=True),
        sa.Column(
            "location", geoalchemy2.Geometry("POINT", srid=4326, spatial_index=True), nullable=True
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("state_at", UTCDateTime(), nullable=True),
        sa.Column("outbox_depth", sa.Integer(), nullable=True),
        sa.Column("app_version", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_station_id"), "devices", ["station_id"])


def downgrade() -> None:
    op.drop_geospatial_table("devices")
