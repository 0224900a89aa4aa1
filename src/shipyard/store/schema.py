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
    UniqueConstraint,
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

pack_entries = Table(
    "pack_entries",
    metadata,
    # Where a small file's bytes live when they were stored inside a pack blob rather than as
    # a blob of their own: creating one blob per 4 KiB file is what makes adding many small
    # files slow. Manifests stay pure content (path, digest, size); this is the location.
    Column("digest", String(64), primary_key=True),
    Column("pack", String(64), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Index(None, "pack"),
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

# -- Model registry ---------------------------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("description", Text, nullable=True),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("policy", Text, nullable=True),  # JSON of entities.policy.Policy; NULL: default
)


def _model_fk() -> ForeignKey:
    return ForeignKey("registered_models.name", ondelete="CASCADE")


registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(250), _model_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(250), _model_fk(), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("source", String(1000), nullable=False),
    Column("run_id", String(32), nullable=True),  # no foreign key: runs may be purged
    Column("digest", String(64), nullable=True),
    Column("flavor", String(100), nullable=True),
    Column("description", Text, nullable=True),
    Column("status", String(10), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Index(None, "run_id"),
)


def _version_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["name", "version"],
                                ["model_versions.name", "model_versions.version"],
                                ondelete="CASCADE")


model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(8000), nullable=False),
    _version_fk(),
    Index(None, "key", "value"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    _version_fk(),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("version", Integer, nullable=True),  # NULL: the alias was removed
    Column("actor", String(256), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Index(None, "name", "alias", "time"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("decision", String(10), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("comment", Text, nullable=True),
    _version_fk(),
    Index(None, "name", "version"),
)

version_reports = Table(
    "version_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(50), nullable=False),
    Column("json_digest", String(64), nullable=False),
    Column("html_digest", String(64), nullable=True),
    Column("metrics", Text, nullable=False),  # JSON object of metric name -> number or null
    Column("created_by", String(256), nullable=False),
    Column("time", BigInteger, nullable=False),
    _version_fk(),
    Index(None, "name", "version", "kind"),
)

# -- Audit log ----------------------------------------------------------------------------------

# On SQLite an INTEGER primary key is the rowid: events are stored in seq order, so verifying
# the chain is one sequential scan instead of an index walk with a lookup per row.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    # 1..n with no gap: a missing number is a deleted event (services.audit assigns it).
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(100), nullable=False),  # e.g. model.create, version.approve
    Column("entity_type", String(50), nullable=False),
    Column("entity_id", String(500), nullable=False),
    Column("before", Text, nullable=True),  # JSON text as it was hashed
    Column("after", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("mac", String(64), nullable=False),  # hex HMAC-SHA256 chaining the previous event
    Index(None, "entity_type", "entity_id", "seq"),
)

# -- Webhooks -----------------------------------------------------------------------------------

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event types, or ["*"]
    # The HMAC key, stored like a password-manager entry: it must be readable to sign, so it
    # is not hashed; it is shown once, at creation, and never listed.
    Column("secret", String(128), nullable=False),
    Column("model_name", String(250), nullable=True),  # NULL: every model
    Column("active", Boolean, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
)

# The outbox: rows are inserted in the registry's own transaction and sent after it commits.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"),
           nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("payload", Text, nullable=False),  # the exact JSON body that is signed and sent
    Column("status", String(10), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_time", BigInteger, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_time", BigInteger, nullable=False),
    Column("delivered_time", BigInteger, nullable=True),
    Index(None, "status", "next_attempt_time"),
    Index(None, "webhook_id"),
)

# -- Access control (server mode, docs/access-control.md) --------------------------------------

users = Table(
    "users",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("disabled", Boolean, nullable=False),
)

# ``model`` is "" for a grant on every model, never NULL: a unique constraint treats NULLs as
# distinct, so "alice is approver of every model" could otherwise be granted twice. "" is never
# a model name (model names must not be empty).
role_grants = Table(
    "role_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(256), ForeignKey("users.name", ondelete="CASCADE"),
           nullable=False),  # not "user": a reserved word in PostgreSQL
    Column("role", String(20), nullable=False),
    Column("model", String(250), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    UniqueConstraint("user_name", "role", "model"),
)

# Only a SHA-256 of each token's secret is kept: the secret is shown once, at creation.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),  # public: the token's ``shy_<id>_`` part
    Column("user_name", String(256), ForeignKey("users.name", ondelete="CASCADE"),
           nullable=False),
    Column("secret_hash", String(64), nullable=False),  # hex SHA-256 of the secret
    Column("description", String(500), nullable=True),
    Column("created_time", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("expires_time", BigInteger, nullable=True),  # NULL: never expires
    Column("revoked_time", BigInteger, nullable=True),
    Column("last_used_time", BigInteger, nullable=True),  # updated at most once a minute
    Index(None, "user_name"),
)

# Pipeline schedules (docs/pipelines.md): a cron expression or a fixed interval, never both.
schedules = Table(
    "schedules",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("pipeline_ref", String(1000), nullable=False),
    Column("params", Text, nullable=False),  # JSON object
    Column("cron", String(200), nullable=True),
    Column("interval_s", BigInteger, nullable=True),
    Column("missed", String(20), nullable=False),  # "skip" | "catch-up"
    Column("code_digest", String(64), nullable=True),  # the code package in the content store
    Column("next_due_time", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_time", BigInteger, nullable=False),
)

# Runs waiting for (or taken by) a ``shipyard worker``. ``due_key`` (``<schedule>@<due ms>``
# for a scheduled run, NULL for a trigger) is unique, so two schedulers never enqueue the same
# due run twice; NULLs are distinct under a unique constraint on both backends.
queued_runs = Table(
    "queued_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("schedule_name", String(250), nullable=True),
    Column("due_key", String(300), nullable=True, unique=True),
    Column("pipeline_ref", String(1000), nullable=False),
    Column("params", Text, nullable=False),
    Column("code_digest", String(64), nullable=True),
    Column("reason", String(1000), nullable=False),
    Column("due_time", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("claimed_by", String(256), nullable=True),
    Column("heartbeat_time", BigInteger, nullable=True),
    Column("pipeline_run_id", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_time", BigInteger, nullable=False),
    Index(None, "status", "due_time"),
)

# Tuning studies (docs/tuning.md): Optuna's journal of each study, one append-only log per
# study. ``next_seq`` is bumped under the row's lock, so appends from many processes get
# consecutive numbers that commit in order (readers never see a gap).
tuning_studies = Table(
    "tuning_studies",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("run_id", String(32), nullable=False),  # the study's parent run
    Column("next_seq", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
)

tuning_logs = Table(
    "tuning_logs",
    metadata,
    Column("study", String(250), ForeignKey("tuning_studies.name", ondelete="CASCADE"),
           primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("body", Text, nullable=False),  # one Optuna journal operation, JSON
)
