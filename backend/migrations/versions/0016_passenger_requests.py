"""Kiosk help requests ("call staff") and notes or photos added to a sent report.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from backend.db.base import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "help_requests",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("metro_station_id", sa.String(64), nullable=True),
        sa.Column("metro_station_name", sa.String(128), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("report_id", sa.String(36), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("ack_answered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_help_requests")),
    )
    op.create_index(op.f("ix_help_requests_device_id"), "help_requests", ["device_id"])
    op.create_index(op.f("ix_help_requests_station_id"), "help_requests", ["station_id"])
    op.create_index(op.f("ix_help_requests_received_at"), "help_requests", ["received_at"])
    op.create_table(
        "report_addenda",
        sa.Column("addendum_id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("has_photo", sa.Boolean(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("addendum_id", name=op.f("pk_report_addenda")),
    )
    op.create_index(op.f("ix_report_addenda_report_id"), "report_addenda", ["report_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_report_addenda_report_id"), table_name="report_addenda")
    op.drop_table("report_addenda")
    for column in ("received_at", "station_id", "device_id"):
        op.drop_index(op.f(f"ix_help_requests_{column}"), table_name="help_requests")
    op.drop_table("help_requests")
