"""A kiosk report placed at the kiosk's station keeps what the kiosk claimed, for audit:
``claimed_lon``, ``claimed_lat``, ``claimed_station_id`` (all NULL when the report kept its
own location; see backend/sightings/placement.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("claimed_lon", sa.Float(), nullable=True))
    op.add_column("reports", sa.Column("claimed_lat", sa.Float(), nullable=True))
    op.add_column("reports", sa.Column("claimed_station_id", sa.String(64), nullable=True))


def downgrade() -> None:
    for column in ("claimed_station_id", "claimed_lat", "claimed_lon"):
        op.execute(f"ALTER TABLE reports DROP COLUMN {column}")
