"""Tuning studies: Optuna's journal, one append-only log per study.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuning_studies",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("next_seq", sa.BigInteger, nullable=False),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tuning_studies"),
    )
    op.create_table(
        "tuning_logs",
        sa.Column("study", sa.String(250), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("study", "seq", name="pk_tuning_logs"),
        sa.ForeignKeyConstraint(["study"], ["tuning_studies.name"], ondelete="CASCADE",
                                name="fk_tuning_logs_study_tuning_studies"),
    )


def downgrade() -> None:
    op.drop_table("tuning_logs")
    op.drop_table("tuning_studies")
