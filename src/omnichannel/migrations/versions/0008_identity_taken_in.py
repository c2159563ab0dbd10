"""identities: when the graph took each in, by the server's clock (created_at), and by which
event (created_by_event, which orders what one transaction took in)

A split gives the other side an identifier that came while the two profiles were one, if
every event carrying it goes there. Told by first_seen, the event's time, a device's clock
set ahead or an offline queue's late event got it wrong. Identifiers already held have none:
a split leaves them where they are.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnichannel.kit.orm import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("identities", sa.Column("created_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("identities", sa.Column("created_by_event", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identities") as batch:  # SQLite drops a column by copying
        batch.drop_column("created_by_event")
        batch.drop_column("created_at")
