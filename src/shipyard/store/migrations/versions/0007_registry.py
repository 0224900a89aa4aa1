"""The model registry: registered models, versions, tags, aliases with history, approvals and
attached reports.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _version_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE", name=f"fk_{table}_name_model_versions")


def _model_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE",
                                   name=f"fk_{table}_name_registered_models")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.Column("updated_time", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("policy", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_registered_models"),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(8000), nullable=False),
        sa.PrimaryKeyConstraint("name", "key", name="pk_registered_model_tags"),
        _model_fk("registered_model_tags"),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("flavor", sa.String(100), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
        _model_fk("model_versions"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(8000), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "key", name="pk_model_version_tags"),
        _version_fk("model_version_tags"),
    )
    op.create_index("ix_model_version_tags_key_value", "model_version_tags", ["key", "value"])
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_model_aliases"),
        _version_fk("model_aliases"),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alias_history"),
    )
    op.create_index("ix_alias_history_name_alias_time", "alias_history",
                    ["name", "alias", "time"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        _version_fk("approvals"),
    )
    op.create_index("ix_approvals_name_version", "approvals", ["name", "version"])
    op.create_table(
        "version_reports",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("json_digest", sa.String(64), nullable=False),
        sa.Column("html_digest", sa.String(64), nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_version_reports"),
        _version_fk("version_reports"),
    )
    op.create_index("ix_version_reports_name_version_kind", "version_reports",
                    ["name", "version", "kind"])


def downgrade() -> None:
    for table in ("version_reports", "approvals", "alias_history", "model_aliases",
                  "model_version_tags", "model_versions", "registered_model_tags",
                  "registered_models"):
        op.drop_table(table)
