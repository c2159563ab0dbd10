"""sources: the system source is marked (is_system), no longer found by its name

Anyone may name a source "Omnichannel API"; found by that name, such a source's events were
counted as the API's own changes, and a second one made every profile read fail on PostgreSQL.
The source already made for the API's changes is marked: the oldest of that name and kind that
holds consent changes (identifies named "consents" with no ids of their own) and nothing else.
A source an operator gave that name stays theirs, even if the old release recorded changes
under it (it found the source by name): its orders are not the API's. The next change then
makes the API's own.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IS_SYSTEM = sa.text("is_system")
# An event of the API's own: a consent change, as profiles.service records it.
CHANGE = (
    "e.name = 'consents' AND e.type = 'identify' AND e.user_id IS NULL AND e.anonymous_id IS NULL"
)


def upgrade() -> None:
    op.add_column(
        "sources", sa.Column("is_system", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.execute(
        "UPDATE sources SET is_system = true WHERE id = (SELECT s.id FROM sources s "
        "WHERE s.name = 'Omnichannel API' AND s.kind = 'server' "
        f"AND EXISTS (SELECT 1 FROM events e WHERE e.source_id = s.id AND {CHANGE}) "
        f"AND NOT EXISTS (SELECT 1 FROM events e WHERE e.source_id = s.id AND NOT ({CHANGE})) "
        "ORDER BY s.created_at LIMIT 1)"
    )
    op.create_index(
        "ux_sources_system",
        "sources",
        ["is_system"],
        unique=True,
        sqlite_where=IS_SYSTEM,
        postgresql_where=IS_SYSTEM,
    )


def downgrade() -> None:
    op.drop_index("ux_sources_system", "sources")
    with op.batch_alter_table("sources") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("is_system")
