"""The best match per open case over an incident's reports, kept on the incident; an index
for the damper's recent volunteer rounds; one index fewer on case_matches.

Routing reads it for every report that joins the incident; before, it was recomputed from
all of the incident's case_matches rows each time (which grows with the incident).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # None: an incident made before this column; its best matches are computed once from
    # its case_matches rows when a report next joins it.
    op.add_column("incidents", sa.Column("matches", sa.JSON(), nullable=True))
    # The damper asks for incidents whose volunteer round went out in the last window.
    op.create_index("ix_incidents_volunteer_round_at", "incidents", ["volunteer_round_at"])
    # A batch writes about a hundred match rows per report in a dense city: this index
    # duplicated the unique (report_id, case_id) one, which serves the same lookups.
    op.drop_index("ix_case_matches_report_id", table_name="case_matches")


def downgrade() -> None:
    op.create_index("ix_case_matches_report_id", "case_matches", ["report_id"])
    op.drop_index("ix_incidents_volunteer_round_at", table_name="incidents")
    op.execute("ALTER TABLE incidents DROP COLUMN matches")
