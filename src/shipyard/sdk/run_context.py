"""What a run records about where it ran: user, entry point, git state, environment."""

from __future__ import annotations

import json
import platform
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard import settings
from shipyard.entities.limits import MAX_TAG_VALUE

# The names live in entities, shared by the layers that read them back; re-exported here.
from shipyard.entities.run_tags import (
    ENVIRONMENT_FILE,
    GIT_DIFF_FILE,
    REQUIREMENTS_FILE,
    TAG_COMMAND,
    TAG_GIT_BRANCH,
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_GIT_REMOTE,
    TAG_PLATFORM,
    TAG_PYTHON,
    TAG_SOURCE,
    TAG_USER,
)
from shipyard.sdk.client import Client

if TYPE_CHECKING:
    from shipyard.services.system_metrics import SystemMetricsSampler

__all__ = [
    "COMMAND_TRUNCATED_MARKER", "ENVIRONMENT_FILE", "GIT_DIFF_FILE", "REQUIREMENTS_FILE",
    "TAG_COMMAND", "TAG_GIT_BRANCH", "TAG_GIT_COMMIT", "TAG_GIT_DIRTY", "TAG_GIT_REMOTE",
    "TAG_PLATFORM", "TAG_PYTHON", "TAG_SOURCE", "TAG_USER", "RunContext", "collect",
    "command_line", "log_context_artifacts", "start_system_metrics",
]

COMMAND_TRUNCATED_MARKER = " # shipyard: command truncated"
"""Ends a command line cut to fit a tag value, so nobody mistakes it for the whole command."""


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
        TAG_COMMAND: command_line(),
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


def command_line(argv: list[str] | None = None, limit: int = MAX_TAG_VALUE) -> str:
    """The process's command line (``sys.argv``) quoted for a POSIX shell, as a tag value.

    A line longer than a tag value may be is cut and ends with :data:`COMMAND_TRUNCATED_MARKER`.
    """
    text = shlex.join((getattr(sys, "argv", None) or []) if argv is None else argv)
    if len(text) <= limit:
        return text
    return text[: limit - len(COMMAND_TRUNCATED_MARKER)] + COMMAND_TRUNCATED_MARKER


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
