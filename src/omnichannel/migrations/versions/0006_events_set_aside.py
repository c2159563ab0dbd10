"""events: a partial index of the set-aside events (status 3), for the backlog's metrics

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SET_ASIDE = sa.text("status = 3")


def upgrade() -> None:
    op.create_index(
        "ix_events_set_aside", "events", ["id"], sqlite_where=SET_ASIDE, postgresql_where=SET_ASIDE
    )


def downgrade() -> None:
    op.drop_index("ix_events_set_aside", "events")
