"""The options, progress hooks and summary of a sync (see :mod:`shipyard.services.sync`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.entities import limits as lim

DEFAULT_WORKERS = 8
"""Runs copied at once: the sources and stores are thread-safe, and a server source answers
several requests at a time."""


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How to sync.

    ``experiments`` limits the sync to these experiment names (all when empty). Deleted
    experiments and runs are left out unless ``include_deleted``; then they are copied and
    deleted at the destination too. ``dry_run`` reads both sides and writes nothing. The batch
    sizes default to the tracking store's limits per ``log_batch`` call. ``workers`` runs are
    copied at once, in threads (1: one after the other, in order).
    """

    experiments: tuple[str, ...] = ()
    include_deleted: bool = False
    dry_run: bool = False
    batch_metrics: int = lim.MAX_BATCH_METRICS
    batch_params: int = lim.MAX_BATCH_PARAMS
    batch_tags: int = lim.MAX_BATCH_TAGS
    workers: int = DEFAULT_WORKERS


@dataclass(slots=True)
class Tally:
    """Items of one kind: copied (or, in a dry run, to copy), already present, skipped."""

    copied: int = 0
    present: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"copied": self.copied, "present": self.present, "skipped": self.skipped}


@dataclass(slots=True)
class SyncSummary:
    """What a sync copied, found already there, or skipped (each skip has a warning).

    A run counts as copied when anything of it was written (it was created, or completed after
    an interrupted sync), as present when nothing was. Tags count run and experiment tags.
    """

    source: str
    destination: str
    dry_run: bool
    experiments: Tally = field(default_factory=Tally)
    runs: Tally = field(default_factory=Tally)
    params: Tally = field(default_factory=Tally)
    tags: Tally = field(default_factory=Tally)
    metric_points: Tally = field(default_factory=Tally)
    artifacts: Tally = field(default_factory=Tally)
    artifact_bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    ROWS = ("experiments", "runs", "params", "tags", "metric_points", "artifacts")

    def tallies(self) -> dict[str, Tally]:
        return {name: getattr(self, name) for name in self.ROWS}

    @property
    def copied_anything(self) -> bool:
        return any(tally.copied for tally in self.tallies().values())

    def merge(self, other: SyncSummary) -> None:
        """Add another summary's counts and warnings to this one."""
        for name, tally in other.tallies().items():
            mine = getattr(self, name)
            mine.copied += tally.copied
            mine.present += tally.present
            mine.skipped += tally.skipped
        self.artifact_bytes += other.artifact_bytes
        self.warnings.extend(other.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            **{name: tally.as_dict() for name, tally in self.tallies().items()},
            "artifact_bytes": self.artifact_bytes,
            "warnings": list(self.warnings),
        }


class SyncProgress(Protocol):
    """Hooks a sync calls as it goes (the CLI draws a progress bar with them)."""

    def planned(self, experiments: int, runs: int) -> None:
        """Called once, after listing the source: how many experiments and runs to sync."""

    def experiment_started(self, name: str) -> None: ...

    def run_done(self) -> None: ...


class NoProgress:
    """Progress hooks that do nothing."""

    def planned(self, experiments: int, runs: int) -> None:
        pass

    def experiment_started(self, name: str) -> None:
        pass

    def run_done(self) -> None:
        pass
