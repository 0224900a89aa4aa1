from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.entities.run import LifecycleStage


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: LifecycleStage
    creation_time: int  # ms since the epoch
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)
