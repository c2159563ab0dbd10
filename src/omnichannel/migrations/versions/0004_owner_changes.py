"""identity_owner_changes: profiles whose identifiers changed hands, for owner caches

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnichannel.kit.orm import BigId, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_owner_changes",
        sa.Column("seq", BigId, autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_identity_owner_changes")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("identity_owner_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_owner_changes_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_owner_changes_txid"), ["txid"], unique=False)


def downgrade() -> None:
    op.drop_table("identity_owner_changes")
