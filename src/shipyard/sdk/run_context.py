"""What a run records about where it ran: user, entry point, git state, environment."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard import settings
from shipyard.sdk.client import Client

if TYPE_CHECKING:
    from shipyard.services.system_metrics import SystemMetricsSampler

TAG_USER = "shipyard.user"
TAG_SOURCE = "shipyard.source.name"
TAG_GIT_COMMIT = "shipyard.source.git.commit"
TAG_GIT_BRANCH = "shipyard.source.git.branch"
TAG_GIT_REMOTE = "shipyard.source.git.remote"
TAG_GIT_DIRTY = "shipyard.source.git.dirty"
TAG_PYTHON = "shipyard.python.version"
TAG_PLATFORM = "shipyard.platform"
ENVIRONMENT_FILE = "_shipyard/environment.json"
REQUIREMENTS_FILE = "_shipyard/requirements.lock"
GIT_DIFF_FILE = "_shipyard/git.diff"


@dataclass(frozen=True, slots=True)
class RunContext:
    tags: dict[str, str]
    git_diff: str | None


def collect() -> RunContext:
    """Look at the process and its working tree once, before the run is created."""
    from shipyard.services.run_context import capture_git, source_name

    diff = None
    tags = {
        TAG_USER: settings.current_user(),
        TAG_SOURCE: source_name(),
        TAG_PYTHON: platform.python_version(),
        TAG_PLATFORM: platform.platform(),
    }
    if settings.CAPTURE_GIT.get():
        git = capture_git()
        if git is not None:
            tags[TAG_GIT_COMMIT] = git.commit
            tags[TAG_GIT_DIRTY] = str(git.dirty).lower()
            if git.branch:
                tags[TAG_GIT_BRANCH] = git.branch
            if git.remote_url:
                tags[TAG_GIT_REMOTE] = git.remote_url
            if git.dirty and git.diff:
                diff = git.diff
    return RunContext(tags, diff)


def log_context_artifacts(client: Client, run_id: str, context: RunContext) -> None:
    """The environment record and the uncommitted diff, stored as run artifacts.

    Identical environments share one blob in the content-addressed store.
    """
    from shipyard.services.run_context import capture_environment, requirements_lock

    if settings.CAPTURE_ENVIRONMENT.get():
        environment = capture_environment()
        client.log_text(run_id, json.dumps(environment, indent=1, sort_keys=True),
                        ENVIRONMENT_FILE)
        client.log_text(run_id, requirements_lock(environment), REQUIREMENTS_FILE)
    if context.git_diff:
        client.log_text(run_id, context.git_diff, GIT_DIFF_FILE)


def start_system_metrics(client: Client, run_id: str) -> SystemMetricsSampler:
    from shipyard.services.system_metrics import SystemMetricsSampler

    def log(values: dict[str, float], step: int) -> None:
        client.log_metrics(run_id, values, step=step)

    sampler = SystemMetricsSampler(log, settings.SYSTEM_METRICS_INTERVAL.get())
    sampler.start()
    return sampler
