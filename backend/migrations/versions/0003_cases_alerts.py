"""cases, volunteers, police stations, incidents, alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op  # geoalchemy2.alembic_helpers adds the geospatial ops
from geoalchemy2 import Geometry

import backend.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_geospatial_table(
        "cases",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("public_description", sa.Text(), nullable=False),
        sa.Column("photo_ref", sa.String(length=500), nullable=True),
        sa.Column("relay_contact", sa.String(length=100), nullable=False),
        sa.Column("family_contact", sa.String(length=100), nullable=True),
        sa.Column("age_band", sa.String(length=16), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("height_band", sa.String(length=16), nullable=True),
        sa.Column("clothing_colours", sa.JSON(), nullable=False),
        sa.Column("distinguishing_marks", sa.Text(), nullable=True),
        sa.Column("last_seen_lon", sa.Float(), nullable=False),
        sa.Column("last_seen_lat", sa.Float(), nullable=False),
        sa.Column(
            "last_seen_point",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("last_seen_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_station_id", sa.String(length=64), nullable=True),
        sa.Column("assigned_volunteer_id", sa.String(length=64), nullable=True),
        sa.Column("radius_schedule", sa.JSON(), nullable=True),
        sa.Column("circle_max_age_s", sa.Float(), nullable=True),
        sa.Column("created_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
    )
    op.create_geospatial_index(
        "idx_cases_last_seen_point",
        "cases",
        ["last_seen_point"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_cases_status"), "cases", ["status"], unique=False)
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("first_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("device_ids", sa.JSON(), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("metro_station_id", sa.String(length=64), nullable=True),
        sa.Column("what_seen", sa.String(length=32), nullable=False),
        sa.Column("volunteer_round_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("bearing_deg", sa.Float(), nullable=True),
        sa.Column("speed_m_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_last_at"), "incidents", ["last_at"], unique=False)
    op.create_table(
        "index_versions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_index_versions")),
    )
    op.create_table(
        "notice_boards",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("published_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_notice_boards")),
    )
    op.create_geospatial_table(
        "police_stations",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "area",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_police_stations")),
    )
    op.create_geospatial_index(
        "idx_police_stations_area",
        "police_stations",
        ["area"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "volunteers",
        sa.Column("volunteer_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("location_opt_in", sa.Boolean(), nullable=False),
        sa.Column("max_alert_radius_m", sa.Float(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("coarse_lon", sa.Float(), nullable=True),
        sa.Column("coarse_lat", sa.Float(), nullable=True),
        sa.Column("location_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("location_expires_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("volunteer_id", name=op.f("pk_volunteers")),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_revision", sa.Integer(), nullable=False),
        sa.Column("delivered_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("response", sa.String(length=16), nullable=True),
        sa.Column("responded_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.incident_id"], name=op.f("fk_alerts_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "incident_id",
            "recipient_kind",
            "recipient_id",
            "kind",
            name=op.f("uq_alerts_incident_id"),
        ),
    )
    op.create_index(
        op.f("ix_alerts_delivered_revision"), "alerts", ["delivered_revision"], unique=False
    )
    op.create_index(op.f("ix_alerts_incident_id"), "alerts", ["incident_id"], unique=False)
    op.create_index(op.f("ix_alerts_recipient_id"), "alerts", ["recipient_id"], unique=False)
    op.create_geospatial_table(
        "case_area_parts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("valid_from", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_area_parts_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_area_parts")),
    )
    op.create_geospatial_index(
        "idx_case_area_parts_geom",
        "case_area_parts",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_case_area_parts_case_id"), "case_area_parts", ["case_id"], unique=False
    )
    op.create_table(
        "case_matches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_matches_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.incident_id"],
            name=op.f("fk_case_matches_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.report_id"], name=op.f("fk_case_matches_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_matches")),
        sa.UniqueConstraint("report_id", "case_id", name=op.f("uq_case_matches_report_id")),
    )
    op.create_index(op.f("ix_case_matches_case_id"), "case_matches", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_case_matches_incident_id"), "case_matches", ["incident_id"], unique=False
    )
    op.create_index(op.f("ix_case_matches_report_id"), "case_matches", ["report_id"], unique=False)
    op.create_table(
        "escalations",
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("level_since", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipients_at_level", sa.Integer(), nullable=False),
        sa.Column("created_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", backend.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.incident_id"],
            name=op.f("fk_escalations_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_escalations")),
    )
    op.create_index(op.f("ix_escalations_done"), "escalations", ["done"], unique=False)
    op.create_index(op.f("ix_escalations_due_at"), "escalations", ["due_at"], unique=False)
    op.create_table(
        "incident_reports",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("observed_at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.incident_id"],
            name=op.f("fk_incident_reports_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.report_id"], name=op.f("fk_incident_reports_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_incident_reports")),
    )
    op.create_index(
        op.f("ix_incident_reports_incident_id"), "incident_reports", ["incident_id"], unique=False
    )
    op.create_index(
        op.f("ix_incident_reports_observed_at"), "incident_reports", ["observed_at"], unique=False
    )
    op.create_table(
        "alert_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("volunteer_id", sa.String(length=64), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("at", backend.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name=op.f("fk_alert_responses_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_responses")),
    )
    op.create_index(
        op.f("ix_alert_responses_alert_id"), "alert_responses", ["alert_id"], unique=False
    )
    op.create_index(
        op.f("ix_alert_responses_incident_id"), "alert_responses", ["incident_id"], unique=False
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_alert_responses_incident_id"), table_name="alert_responses")
    op.drop_index(op.f("ix_alert_responses_alert_id"), table_name="alert_responses")
    op.drop_table("alert_responses")
    op.drop_index(op.f("ix_incident_reports_observed_at"), table_name="incident_reports")
    op.drop_index(op.f("ix_incident_reports_incident_id"), table_name="incident_reports")
    op.drop_table("incident_reports")
    op.drop_index(op.f("ix_escalations_due_at"), table_name="escalations")
    op.drop_index(op.f("ix_escalations_done"), table_name="escalations")
    op.drop_table("escalations")
    op.drop_index(op.f("ix_case_matches_report_id"), table_name="case_matches")
    op.drop_index(op.f("ix_case_matches_incident_id"), table_name="case_matches")
    op.drop_index(op.f("ix_case_matches_case_id"), table_name="case_matches")
    op.drop_table("case_matches")
    op.drop_index(op.f("ix_case_area_parts_case_id"), table_name="case_area_parts")
    op.drop_geospatial_index(
        "idx_case_area_parts_geom",
        table_name="case_area_parts",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("case_area_parts")
    op.drop_index(op.f("ix_alerts_recipient_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_incident_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_delivered_revision"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("volunteers")
    op.drop_geospatial_index(
        "idx_police_stations_area",
        table_name="police_stations",
        postgresql_using="gist",
        column_name="area",
    )
    op.drop_geospatial_table("police_stations")
    op.drop_table("notice_boards")
    op.drop_table("index_versions")
    op.drop_index(op.f("ix_incidents_last_at"), table_name="incidents")
    op.drop_table("incidents")
    op.drop_index(op.f("ix_cases_status"), table_name="cases")
    op.drop_geospatial_index(
        "idx_cases_last_seen_point",
        table_name="cases",
        postgresql_using="gist",
        column_name="last_seen_point",
    )
    op.drop_geospatial_table("cases")
