"""What a run records about where it ran: git state, environment, entry point."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.services import run_context
from shipyard.services.run_context import (
    DIFF_TRUNCATED_MARKER,
    GitInfo,
    capture_environment,
    capture_git,
    normalize_package_name,
    requirements_lock,
    source_name,
    strip_url_credentials,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user or system git config, and no repository above tmp_path, leaks into a test."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on branch ``main`` with one commit holding ``train.py``."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("lr = 0.1\nepochs = 3\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "first")
    return path


@needs_git
def test_clean_repository(repo: Path) -> None:
    info = capture_git(repo)
    assert info == GitInfo(
        commit=git(repo, "rev-parse", "HEAD"), branch="main", remote_url=None, dirty=False, diff=""
    )
    assert re.fullmatch(r"[0-9a-f]{40}", info.commit)


@needs_git
def test_modified_tracked_file_is_dirty_with_its_diff(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.01\nepochs = 3\n")
    info = capture_git(repo)
    assert info is not None
    assert info.dirty is True
    assert "-lr = 0.1\n" in info.diff
    assert "+lr = 0.01\n" in info.diff
    assert info.diff.startswith("diff --git a/train.py b/train.py")


@needs_git
def test_diff_applies_on_top_of_the_commit(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("lr = 0.01\nepochs = 3\n")
    git(repo, "add", "train.py")  # staged changes count as well
    info = capture_git(repo)
    assert info is not None and info.dirty
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", info.commit)
    subprocess.run(["git", "apply", "-"], cwd=clone, input=info.diff, text=True, check=True)
    assert (clone / "train.py").read_text() == "lr = 0.01\nepochs = 3\n"


@needs_git
def test_untracked_files_are_neither_dirty_nor_in_the_diff(repo: Path) -> None:
    (repo / "secrets.env").write_text("TOKEN=hunter2\n")
    info = capture_git(repo)
    assert info is not None
    assert info.dirty is False
    assert info.diff == ""


@needs_git
def test_detached_head_has_no_branch(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("lr = 0.2\nepochs = 3\n")
    git(repo, "commit", "-q", "-am", "second")
    git(repo, "checkout", "-q", "--detach", first)
    info = capture_git(repo)
    assert info is not None
    assert info.commit == first
    assert info.branch is None
    assert info.dirty is False


@needs_git
def test_path_may_be_a_subfolder_or_a_file(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("x = 1\n")
    expected = capture_git(repo)
    assert capture_git(repo / "src") == expected
    assert capture_git(str(repo / "train.py")) == expected


@needs_git
def test_default_path_is_the_current_directory(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    info = capture_git()
    assert info is not None and info.commit == git(repo, "rev-parse", "HEAD")


@needs_git
def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert capture_git(plain) is None
    assert capture_git(tmp_path / "does-not-exist") is None


@needs_git
def test_repository_without_commits_gives_none(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("x = 1\n")
    git(tmp_path, "add", "train.py")
    assert capture_git(tmp_path) is None


def test_git_missing_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert capture_git(tmp_path) is None


@needs_git
def test_remote_credentials_are_stripped(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:ghp_s3cr3t@github.com/acme/er-matching.git")
    info = capture_git(repo)
    assert info is not None
    assert info.remote_url == "https://github.com/acme/er-matching.git"
    assert "s3cr3t" not in repr(info)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host/x", "https://host/x"),
        ("https://token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("http://u:p@host:8080/r.git", "http://host:8080/r.git"),
        ("ssh://git:pw@host/org/repo.git", "ssh://git@host/org/repo.git"),
        ("ssh://git@host/org/repo.git", "ssh://git@host/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


@needs_git
def test_large_diff_is_truncated_with_a_marker(repo: Path) -> None:
    (repo / "train.py").write_text("".join(f"line {i}\n" for i in range(10_000)))
    info = capture_git(repo, max_diff_bytes=1000)
    assert info is not None and info.dirty
    marker = DIFF_TRUNCATED_MARKER.format(limit=1000)
    assert info.diff.endswith(marker)
    body = info.diff.removesuffix(marker)
    assert len(body.encode()) <= 1000
    assert body.endswith("\n")  # cut at a whole line
    assert body.startswith("diff --git")


def test_environment_describes_this_interpreter() -> None:
    env = capture_environment()
    assert env["python"] == platform.python_version()
    assert env["implementation"] == platform.python_implementation()
    assert env["platform"] == platform.platform()
    assert env["machine"] == platform.machine()
    packages = env["packages"]
    assert isinstance(packages, dict)
    assert packages["pytest"] == importlib.metadata.version("pytest")
    assert list(packages) == sorted(packages)
    for name in packages:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name


def test_environment_is_cached_and_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    capture_environment.cache_clear()
    calls: list[int] = []
    real = run_context._installed_packages

    def counting() -> dict[str, str]:
        calls.append(1)
        return real()

    monkeypatch.setattr(run_context, "_installed_packages", counting)
    first = capture_environment()
    first["python"] = "mutated"
    packages = first["packages"]
    assert isinstance(packages, dict)
    packages.clear()
    second = capture_environment()
    assert second["python"] == platform.python_version()
    assert second["packages"]
    assert len(calls) == 1
    capture_environment.cache_clear()
    capture_environment()
    assert len(calls) == 2
    capture_environment.cache_clear()


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("PyYAML", "pyyaml"),
        ("typing_extensions", "typing-extensions"),
        ("zope.interface", "zope-interface"),
        ("Foo__Bar-.baz", "foo-bar-baz"),
    ],
)
def test_normalize_package_name(name: str, normal: str) -> None:
    assert normalize_package_name(name) == normal


def test_requirements_lock_format() -> None:
    env: dict[str, object] = {"python": "3.11.7", "packages": {"torch": "2.4.0", "numpy": "2.1.0"}}
    assert requirements_lock(env) == "numpy==2.1.0\ntorch==2.4.0\n"
    assert requirements_lock({"python": "3.11.7", "packages": {}}) == ""
    assert requirements_lock({}) == ""


def test_requirements_lock_of_this_environment() -> None:
    env = capture_environment()
    lines = requirements_lock(env).splitlines()
    assert f"pytest=={importlib.metadata.version('pytest')}" in lines
    assert all(re.fullmatch(r"[a-z0-9-]+==\S+", line) for line in lines)
    names = [line.partition("==")[0] for line in lines]
    assert names == sorted(names)


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["/home/ana/er/train.py", "--epochs", "3"], "train.py"),
        (["train.py"], "train.py"),
        (["/usr/lib/python3/site-packages/er/__main__.py"], "__main__.py"),
        ([""], "<interactive>"),
        (["-c"], "<interactive>"),
        (["-"], "<interactive>"),
        ([], "<interactive>"),
        (["/venv/lib/site-packages/ipykernel_launcher.py", "-f", "k.json"], "<interactive>"),
    ],
)
def test_source_name(monkeypatch: pytest.MonkeyPatch, argv: list[str], name: str) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    assert source_name() == name
