"""Dataset versions, the runs that read or wrote them, and where packed small files live.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_datasets"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=True),
        sa.Column("columns", sa.Text, nullable=True),
        sa.Column("profile", sa.Text, nullable=True),
        sa.Column("parent", sa.Integer, nullable=True),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("name", "version", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(["name"], ["datasets.name"], ondelete="CASCADE",
                                name="fk_dataset_versions_name_datasets"),
    )
    op.create_index("ix_dataset_versions_name_digest", "dataset_versions", ["name", "digest"])
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])
    op.create_table(
        "pack_entries",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("pack", sa.String(64), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_pack_entries"),
    )
    op.create_index("ix_pack_entries_pack", "pack_entries", ["pack"])
    op.create_table(
        "run_datasets",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", "version", "role", name="pk_run_datasets"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE",
                                name="fk_run_datasets_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["name", "version"], ["dataset_versions.name", "dataset_versions.version"],
            ondelete="CASCADE", name="fk_run_datasets_name_dataset_versions"),
    )
    op.create_index("ix_run_datasets_name_version", "run_datasets", ["name", "version"])


def downgrade() -> None:
    op.drop_table("run_datasets")
    op.drop_table("pack_entries")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
