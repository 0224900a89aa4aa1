from __future__ import annotations

import enum
from dataclasses import dataclass, field


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.StrEnum):
    """Which runs or experiments a search returns."""

    ACTIVE_ONLY = "active"
    DELETED_ONLY = "deleted"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user: str
    status: RunStatus
    start_time: int  # ms since the epoch
    end_time: int | None
    lifecycle_stage: LifecycleStage
    parent_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunData:
    """What was logged: params, the latest value of each metric, and tags."""

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData

    @property
    def run_id(self) -> str:
        return self.info.run_id
