"""Teams and orgs as rows (schema owned by migration 0017_cerebra_admin); keys name them by `name`."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

cerebra_orgs = sa.Table(
    "cerebra_orgs",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

cerebra_teams = sa.Table(
    "cerebra_teams",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("org", sa.String(200), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
