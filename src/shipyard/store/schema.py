"""The metadata tables, as SQLAlchemy Core objects.

Only Alembic migrations create or change these tables; ``tests/test_migrations.py`` checks
that the migrated schema equals these definitions.

Conventions:
- times are milliseconds since the epoch (BIGINT);
- a metric value NULL means NaN (SQLite cannot store NaN); ±inf are stored as such;
- ``latest_metrics`` keeps each run's latest point per key, so searching by a metric is one
  indexed lookup instead of a scan of the whole series.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_DOUBLE = Float(precision=53).with_variant(Float(), "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("run_name", String(500), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("deleted_time", BigInteger, nullable=True),
    Column("parent_run_id", String(32), nullable=True),
    Column("deleted_with_experiment", Boolean, nullable=False, server_default=false()),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_run_id"),
)


def _run_fk() -> ForeignKey:
    return ForeignKey("runs.run_id", ondelete="CASCADE")


params = Table(
    "params",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(32), _run_fk(), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", _DOUBLE, nullable=True),
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", _DOUBLE, nullable=True),
    # The run's experiment, copied here so "best runs of experiment E by metric M" is one
    # ordered range of the index below (a run never changes experiment).
    Column("experiment_id", Integer, nullable=False),
    Index(None, "key", "value"),
    Index(None, "experiment_id", "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Index(None, "digest"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_time", BigInteger, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("name", String(200), ForeignKey("datasets.name", ondelete="CASCADE"),
           primary_key=True),
    Column("version", Integer, primary_key=True),
    # BLAKE3 of the manifest blob, which lists every file of the version with its digest.
    Column("digest", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("row_count", BigInteger, nullable=True),
    Column("columns", Text, nullable=True),  # JSON list of {name, type, nullable}
    Column("profile", Text, nullable=True),  # JSON, the mergeable column profile
    Column("parent", Integer, nullable=True),
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("description", Text, nullable=True),
    Index(None, "name", "digest"),
    Index(None, "digest"),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("role", String(10), primary_key=True),
    ForeignKeyConstraint(
        ["name", "version"], ["dataset_versions.name", "dataset_versions.version"],
        ondelete="CASCADE",
    ),
    Index(None, "name", "version"),
)
