"""Pipeline schedules and the run queue taken by `shipyard worker`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("pipeline_ref", sa.String(1000), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("cron", sa.String(200), nullable=True),
        sa.Column("interval_s", sa.BigInteger, nullable=True),
        sa.Column("missed", sa.String(20), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=True),
        sa.Column("next_due_time", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_schedules"),
    )
    op.create_table(
        "queued_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("schedule_name", sa.String(250), nullable=True),
        sa.Column("due_key", sa.String(300), nullable=True),
        sa.Column("pipeline_ref", sa.String(1000), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("due_time", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(256), nullable=True),
        sa.Column("heartbeat_time", sa.BigInteger, nullable=True),
        sa.Column("pipeline_run_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queued_runs"),
        sa.UniqueConstraint("due_key", name="uq_queued_runs_due_key"),
    )
    op.create_index("ix_queued_runs_status_due_time", "queued_runs", ["status", "due_time"])


def downgrade() -> None:
    op.drop_table("queued_runs")
    op.drop_table("schedules")
