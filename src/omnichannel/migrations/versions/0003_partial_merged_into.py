"""profiles.merged_into: a partial index holding only merged-away profiles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_NULL = sa.text("merged_into IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_profiles_merged_into")
        batch_op.create_index(
            "ix_profiles_merged_into",
            ["merged_into"],
            unique=False,
            sqlite_where=NOT_NULL,
            postgresql_where=NOT_NULL,
        )


def downgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_profiles_merged_into", sqlite_where=NOT_NULL, postgresql_where=NOT_NULL
        )
        batch_op.create_index("ix_profiles_merged_into", ["merged_into"], unique=False)
