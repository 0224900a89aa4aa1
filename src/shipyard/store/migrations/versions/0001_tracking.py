"""Experiments, runs, params, tags and metric series.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53).with_variant(sa.Float(), "sqlite")


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_id", ondelete="CASCADE", name=None)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(8000), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], ondelete="CASCADE",
            name="fk_experiment_tags_experiment_id_experiments",
        ),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("run_name", sa.String(500), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("deleted_time", sa.BigInteger, nullable=True),
        sa.Column("parent_run_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], ondelete="CASCADE",
            name="fk_runs_experiment_id_experiments",
        ),
    )
    op.create_index("ix_runs_experiment_id_start_time", "runs", ["experiment_id", "start_time"])
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"])
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_id", sa.String(32), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.String(8000), nullable=False),
            sa.PrimaryKeyConstraint("run_id", "key", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["run_id"], ["runs.run_id"], ondelete="CASCADE", name=f"fk_{name}_run_id_runs"
            ),
        )
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("value", _DOUBLE, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], ondelete="CASCADE", name="fk_metrics_run_id_runs"
        ),
    )
    op.create_index("ix_metrics_run_id_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("value", _DOUBLE, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], ondelete="CASCADE",
            name="fk_latest_metrics_run_id_runs",
        ),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])


def downgrade() -> None:
    for name in ("latest_metrics", "metrics", "tags", "params", "runs", "experiment_tags",
                 "experiments"):
        op.drop_table(name)
