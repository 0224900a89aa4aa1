"""What a run records about where it ran: the code version (git), the environment, the source.

Everything here is cheap to import (stdlib only at module level) and never raises for a machine
that lacks git, a repository, or metadata for an installed package: a run must start anyway.

* :func:`capture_git` -- commit, branch, remote (credentials stripped), dirty flag and the diff.
* :func:`capture_environment` -- Python version, platform and installed packages (cached).
* :func:`requirements_lock` -- that environment as ``name==version`` lines.
* :func:`source_name` -- the entry point the run was started from.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DIFF_LIMIT_BYTES",
    "DIFF_TRUNCATED_MARKER",
    "GIT_TIMEOUT",
    "GitInfo",
    "capture_environment",
    "capture_git",
    "normalize_package_name",
    "requirements_lock",
    "source_name",
    "strip_url_credentials",
]

DIFF_LIMIT_BYTES = 5 * 1024 * 1024
"""The most bytes of ``git diff HEAD`` a run records; the rest is cut off with a marker."""

DIFF_TRUNCATED_MARKER = "\n# shipyard: diff truncated at {limit} bytes\n"
"""Appended (formatted with ``limit``) to a diff that was cut off at ``limit`` bytes."""

GIT_TIMEOUT = 10.0
"""Seconds any one git command may take before the capture gives up (and returns None)."""

_INTERACTIVE = "<interactive>"


@dataclass(frozen=True, slots=True)
class GitInfo:
    """The code version of a run.

    ``commit`` is the full hash of ``HEAD``. ``branch`` is None on a detached HEAD.
    ``remote_url`` is ``remote.origin.url`` with any credentials removed, or None without one.
    ``dirty`` is True when a *tracked* file differs from ``HEAD`` (staged or not); untracked
    files do not make a tree dirty. ``diff`` is ``git diff HEAD`` -- the tracked changes, staged
    and unstaged, as a patch that ``git apply`` takes on top of ``commit``. Untracked files are
    not in it (they may be data, secrets or build output; ignored or not, they are left out).
    A diff over :data:`DIFF_LIMIT_BYTES` is cut at the last whole line below the limit and ends
    with :data:`DIFF_TRUNCATED_MARKER`. ``diff`` is ``""`` when the tree is clean.
    """

    commit: str
    branch: str | None
    remote_url: str | None
    dirty: bool
    diff: str


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_OPTIONAL_LOCKS="0",  # `git status` must not take index.lock from the user's git
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    return env


def _git(git: str, cwd: Path, args: Sequence[str]) -> str | None:
    """Stdout of one git command, or None when it fails, times out or cannot start."""
    try:
        done = subprocess.run(
            [git, "--no-pager", *args],
            cwd=cwd,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def _git_diff(git: str, cwd: Path, limit: int) -> str | None:
    """``git diff HEAD``, reading at most ``limit + 1`` bytes so a huge diff costs no memory."""
    args = [git, "--no-pager", "diff", "--no-color", "--no-ext-diff", "--no-textconv", "HEAD"]
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    timer = threading.Timer(GIT_TIMEOUT, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        assert proc.stdout is not None
        data = proc.stdout.read(limit + 1)
        truncated = len(data) > limit
        if truncated:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
    finally:
        timer.cancel()
    if truncated:
        head = data[:limit]
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else head
        return head.decode("utf-8", errors="replace") + DIFF_TRUNCATED_MARKER.format(limit=limit)
    if code != 0:
        return None
    return data.decode("utf-8", errors="replace")


def strip_url_credentials(url: str) -> str:
    """``url`` without secrets: no user info at all for http(s)/ftp(s), no password elsewhere.

    ``https://user:token@host/x`` and ``https://token@host/x`` become ``https://host/x``;
    ``ssh://git:pw@host/x`` becomes ``ssh://git@host/x``; scp-like ``git@host:org/repo.git``
    and local paths hold no secret and are returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in {"http", "https", "ftp", "ftps"}:
        netloc = hostport
    else:
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}" if user else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def capture_git(
    path: str | Path | None = None, *, max_diff_bytes: int = DIFF_LIMIT_BYTES
) -> GitInfo | None:
    """The git state of the work tree holding ``path`` (default: the current directory).

    Returns None when git is not installed, ``path`` is not inside a work tree, git fails or
    times out (:data:`GIT_TIMEOUT`), and also for a repository without any commit yet: with no
    ``HEAD`` there is no version to pin the run to, so callers only ever see a real ``commit``.
    Runs at most three git commands (``status``, ``config``, and ``diff`` only when dirty).
    """
    git = shutil.which("git")
    if git is None:
        return None
    where = Path(path) if path is not None else Path.cwd()
    if where.is_file():
        where = where.parent
    if not where.is_dir():
        return None

    status = _git(git, where, ["status", "--porcelain=v2", "--branch", "--untracked-files=no"])
    if status is None:
        return None
    commit: str | None = None
    branch: str | None = None
    dirty = False
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ").strip()
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    if not commit:
        return None

    remote = _git(git, where, ["config", "--get", "remote.origin.url"])
    remote_url = strip_url_credentials(remote.strip()) if remote and remote.strip() else None

    diff = ""
    if dirty:
        diff = _git_diff(git, where, max(0, max_diff_bytes)) or ""
    return GitInfo(commit=commit, branch=branch, remote_url=remote_url, dirty=dirty, diff=diff)


_NAME_SEPARATORS = re.compile(r"[-_.]+")


def normalize_package_name(name: str) -> str:
    """The PEP 503 normal form: lower case, runs of ``-``, ``_`` and ``.`` become one ``-``."""
    return _NAME_SEPARATORS.sub("-", name).lower().strip("-")


def _installed_packages() -> dict[str, str]:
    import importlib.metadata  # ~30 ms: imported on first use, not with this module

    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:  # a broken .dist-info must not stop a run from starting
            continue
        if not name or not version:
            continue
        # distributions() follows sys.path order, so the first one seen is the one imported
        packages.setdefault(normalize_package_name(name), str(version))
    return dict(sorted(packages.items()))


@functools.cache
def _environment() -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    facts = (
        ("python", platform.python_version()),
        ("implementation", platform.python_implementation()),
        ("platform", platform.platform()),
        ("machine", platform.machine()),
    )
    return facts, tuple(_installed_packages().items())


class _EnvironmentCapture:
    """Callable behind :func:`capture_environment`; see that name for the documentation."""

    __slots__ = ()

    def __call__(self) -> dict[str, object]:
        """The interpreter, platform and installed packages of this process.

        ``{"python": "3.11.7", "implementation": "CPython", "platform": platform.platform(),
        "machine": "x86_64", "packages": {"numpy": "2.1.0", ...}}`` -- package names normalised
        (PEP 503), sorted, one version per name (the one that ``import`` finds first).

        Scanning installed packages takes milliseconds to a second, so the answer is computed
        once per process and copied out on each call (callers may mutate what they get).
        Call ``capture_environment.cache_clear()`` after installing packages in-process.
        """
        facts, packages = _environment()
        env: dict[str, object] = dict(facts)
        env["packages"] = dict(packages)
        return env

    @staticmethod
    def cache_clear() -> None:
        """Forget the cached answer; the next call scans the installed packages again."""
        _environment.cache_clear()


capture_environment = _EnvironmentCapture()


def requirements_lock(env: Mapping[str, object]) -> str:
    """The packages of ``env`` (from :func:`capture_environment`) as ``name==version`` lines.

    Sorted by name, one per line, newline-terminated; ``""`` when there are none. Packages
    installed from a path or URL are listed by their version like any other.
    """
    packages = env.get("packages")
    if not isinstance(packages, Mapping):
        return ""
    lines = [f"{name}=={version}" for name, version in sorted(packages.items())]
    return "".join(line + "\n" for line in lines)


def source_name() -> str:
    """The entry point of this process: the basename of ``sys.argv[0]``.

    ``"<interactive>"`` for a REPL, ``python -c``, code read from stdin, and Jupyter kernels.
    """
    argv = getattr(sys, "argv", None) or [""]
    first = argv[0] if argv else ""
    if first in {"", "-c", "-"}:
        return _INTERACTIVE
    name = os.path.basename(first.rstrip("/\\")) or first
    if name.startswith("ipykernel_launcher"):  # a Jupyter kernel
        return _INTERACTIVE
    return name
