"""People's accounts for the desk console, their stations and sessions; duty desks'
acknowledgements of station alerts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from backend.db.base import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_people")),
    )
    op.create_table(
        "people_stations",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"], ["people.username"], name=op.f("fk_people_stations_username_people")
        ),
        sa.PrimaryKeyConstraint("username", "station_id", name=op.f("pk_people_stations")),
    )
    op.create_table(
        "people_sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"], ["people.username"], name=op.f("fk_people_sessions_username_people")
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_people_sessions")),
    )
    op.create_index(op.f("ix_people_sessions_username"), "people_sessions", ["username"])
    op.create_index(op.f("ix_people_sessions_expires_at"), "people_sessions", ["expires_at"])
    op.create_table(
        "desk_acknowledgements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name=op.f("fk_desk_acknowledgements_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_acknowledgements")),
    )
    for column in ("alert_id", "incident_id", "station_id"):
        op.create_index(
            op.f(f"ix_desk_acknowledgements_{column}"), "desk_acknowledgements", [column]
        )


def downgrade() -> None:
    for column in ("alert_id", "incident_id", "station_id"):
        op.drop_index(
            op.f(f"ix_desk_acknowledgements_{column}"), table_name="desk_acknowledgements"
        )
    op.drop_table("desk_acknowledgements")
    op.drop_index(op.f("ix_people_sessions_expires_at"), table_name="people_sessions")
    op.drop_index(op.f("ix_people_sessions_username"), table_name="people_sessions")
    op.drop_table("people_sessions")
    op.drop_table("people_stations")
    op.drop_table("people")
