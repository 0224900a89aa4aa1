"""Index of each run's artifacts: path -> content digest in the content-addressed store.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "path", name="pk_run_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], ondelete="CASCADE", name="fk_run_artifacts_run_id_runs"
        ),
    )
    op.create_index("ix_run_artifacts_digest", "run_artifacts", ["digest"])


def downgrade() -> None:
    op.drop_table("run_artifacts")
