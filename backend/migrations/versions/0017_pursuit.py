"""Metro-aware pursuit (#22): trails of sightings at metro stations, their sightings, and
the outbox alerts each trail owns.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-11
"""

import sqlalchemy as sa
from alembic import op

from backend.db.base import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pursuit_trails",
        sa.Column("trail_id", sa.String(36), nullable=False),
        sa.Column("anchor_incident_id", sa.String(36), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("stations", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("on_metro", sa.Boolean(), nullable=True),
        sa.Column("predicted_at", UTCDateTime(), nullable=True),
        sa.Column("prediction", sa.JSON(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("trail_id", name=op.f("pk_pursuit_trails")),
    )
    op.create_index(op.f("ix_pursuit_trails_last_seen_at"), "pursuit_trails", ["last_seen_at"])
    op.create_index(op.f("ix_pursuit_trails_state"), "pursuit_trails", ["state"])
    op.create_table(
        "pursuit_sightings",
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("trail_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("metro_station_id", sa.String(64), nullable=False),
        sa.Column("police_station_id", sa.String(64), nullable=True),
        sa.Column("incident_id", sa.String(36), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("uncertainty_s", sa.Float(), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("what_seen", sa.String(32), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("clothing_colours", sa.JSON(), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_pursuit_sightings")),
    )
    for column in ("trail_id", "police_station_id", "incident_id", "observed_at"):
        op.create_index(op.f(f"ix_pursuit_sightings_{column}"), "pursuit_sightings", [column])
    op.create_table(
        "pursuit_alerts",
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("trail_id", sa.String(36), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name=op.f("fk_pursuit_alerts_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_pursuit_alerts")),
        sa.UniqueConstraint(
            "trail_id",
            "recipient_kind",
            "recipient_id",
            name=op.f("uq_pursuit_alerts_trail_id"),
        ),
    )
    op.create_index(op.f("ix_pursuit_alerts_trail_id"), "pursuit_alerts", ["trail_id"])
    op.create_index(op.f("ix_pursuit_alerts_recipient_id"), "pursuit_alerts", ["recipient_id"])


def downgrade() -> None:
    for column in ("recipient_id", "trail_id"):
        op.drop_index(op.f(f"ix_pursuit_alerts_{column}"), table_name="pursuit_alerts")
    op.drop_table("pursuit_alerts")
    for column in ("observed_at", "incident_id", "police_station_id", "trail_id"):
        op.drop_index(op.f(f"ix_pursuit_sightings_{column}"), table_name="pursuit_sightings")
    op.drop_table("pursuit_sightings")
    op.drop_index(op.f("ix_pursuit_trails_state"), table_name="pursuit_trails")
    op.drop_index(op.f("ix_pursuit_trails_last_seen_at"), table_name="pursuit_trails")
    op.drop_table("pursuit_trails")
