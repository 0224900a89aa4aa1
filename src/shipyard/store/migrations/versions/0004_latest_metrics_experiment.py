"""Copy each run's experiment into latest_metrics and index (experiment_id, key, value).

Searching the best runs of one experiment by a metric then reads one ordered index range and
stops after a page, however many runs other experiments hold.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("latest_metrics", sa.Column("experiment_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE latest_metrics SET experiment_id = "
        "(SELECT runs.experiment_id FROM runs WHERE runs.run_id = latest_metrics.run_id)"
    )
    with op.batch_alter_table("latest_metrics") as batch:
        batch.alter_column("experiment_id", existing_type=sa.Integer(), nullable=False)
    op.create_index("ix_latest_metrics_experiment_id_key_value", "latest_metrics",
                    ["experiment_id", "key", "value"])


def downgrade() -> None:
    op.drop_index("ix_latest_metrics_experiment_id_key_value", "latest_metrics")
    with op.batch_alter_table("latest_metrics") as batch:
        batch.drop_column("experiment_id")
