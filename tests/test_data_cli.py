"""``shipyard data`` and ``runs data``/``runs reproduce`` end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shipyard as sy
from tests.cli_support import as_json, failed, ok
from tests.data_support import blob_files, write_tree


def test_add_ls_status_diff_get_show(tmp_path: Path, shipyard_home: Path) -> None:
    raw = write_tree(tmp_path / "raw", {"a.csv": "id,v\n1,2\n", "b.txt": "b"})
    assert ok("data", "add", str(raw), "--name", "records").stdout.strip() == "records@v1"
    again = ok("data", "add", str(raw), "--name", "records")
    assert again.stdout.strip() == "records@v1" and "unchanged" in again.stderr

    assert "up to date with records@v1 (2 file(s))" in ok(
        "data", "status", str(raw), "--name", "records").stdout
    write_tree(raw, {"b.txt": "B", "c.txt": "c"})
    status = as_json("data", "status", str(raw), "--name", "records")
    assert (status["added"], status["modified"], status["removed"]) == (["c.txt"], ["b.txt"], [])
    assert not status["clean"]

    before = blob_files(shipyard_home / "artifacts")
    added = as_json("data", "add", str(raw), "--name", "records", "--description", "more")
    assert added["ref"] == "records@v2" and added["blobs_stored"] == 2
    assert len(blob_files(shipyard_home / "artifacts") - before) == 3  # 2 files + manifest

    listing = as_json("data", "ls")
    assert [(d["name"], d["version"], d["versions"]) for d in listing["datasets"]] == [
        ("records", 2, 2)]
    versions = ok("data", "ls", "records").stdout
    assert "records@v1" in versions and "records@v2" in versions and "more" in versions

    diff = as_json("data", "diff", "records@v1", "records@v2")
    assert diff["files"] == {"added": ["c.txt"], "removed": [], "modified": ["b.txt"]}
    assert "modified:" in ok("data", "diff", "records@v1", "records").stdout

    out = tmp_path / "restored"
    assert "wrote 2 file(s)" in ok("data", "get", "records@v1", "-o", str(out)).stdout
    assert (out / "b.txt").read_text() == "b" and (out / "a.csv").read_text() == "id,v\n1,2\n"

    shown = as_json("data", "show", "records@v2")
    assert shown["digest"] == added["digest"] and shown["parent"] == 1
    assert "records@v2" in ok("data", "show", f"records@{added['digest'][:6]}").stdout


def test_a_csv_version_shows_its_columns_and_drift(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("id,amount\n" + "".join(f"{i},{i % 7}\n" for i in range(300)))
    ok("data", "add", str(path), "--name", "sales")
    path.write_text("id,amount\n" + "".join(f"{i},{i % 7 + 40}\n" for i in range(300)))
    ok("data", "add", str(path), "--name", "sales")
    shown = ok("data", "show", "sales@v1").stdout
    assert "amount" in shown and "int64" in shown and "mean 2.99" in shown
    diff = ok("data", "diff", "sales@v1", "sales@v2").stdout
    assert "DRIFT" in diff and "rows: 300 -> 300" in diff


def test_cli_bad_input_is_one_clean_error(tmp_path: Path) -> None:
    raw = write_tree(tmp_path / "raw", {"a.txt": "a"})
    assert "may only hold letters" in failed("data", "add", str(raw), "--name", "a b").stderr
    assert "does not exist" in failed("data", "add", str(tmp_path / "x"), "--name", "r").stderr
    ok("data", "add", str(raw), "--name", "records")
    assert "no version v999" in failed("data", "get", "records@v999", "-o", "x").stderr
    assert "not a dataset reference" in failed("data", "show", "records@vv").stderr
    assert "does not exist" in failed("data", "ls", "nothing").stderr
    assert "does not exist" in failed("data", "runs", "nothing").stderr


def test_fluent_lineage_and_the_data_behind_a_run(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2], "owner": ["ann", "bob"]})
    with sy.start_run(experiment="er") as run:
        version = sy.log_dataset(frame, "owners")
        loaded = sy.load_dataset("owners@v1")
        sy.log_dataset(frame.head(1), "sample", role="output")
    pd.testing.assert_frame_equal(loaded, frame)
    assert version.ref == "owners@v1" and sy.get_dataset("owners").digest == version.digest
    used = as_json("runs", "data", run.run_id[:8])["datasets"]
    assert {(u["ref"], u["role"]) for u in used} == {("owners@v1", "input"),
                                                      ("sample@v1", "output")}
    runs = as_json("data", "runs", "owners@v1")["runs"]
    assert [r["run_id"] for r in runs] == [run.run_id]
    with pytest.raises(sy.InvalidStateError, match="no active run"):
        sy.log_input("owners@v1")


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


@pytest.mark.slow
def test_reproduce_restores_the_data_digests_and_the_patch(tmp_path: Path,
                                                           shipyard_home: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    (origin / "train.py").write_text(
        "import sys, shipyard as sy\n"
        "with sy.start_run(experiment='repro') as run:\n"
        "    sy.log_params({'C': sys.argv[1]})\n"
        "    sy.log_input('records@v1')\n"
        "    print(run.run_id)\n")
    _git(origin, "add", "train.py")
    _git(origin, "commit", "-qm", "train")
    work = tmp_path / "work"
    _git(tmp_path, "clone", "-q", str(origin), str(work))
    with (work / "train.py").open("a") as script:
        script.write("# tuned\n")  # an uncommitted change: the run must record it
    raw = write_tree(tmp_path / "raw", {"a.csv": "id\n1\n", "sub/b.bin": os.urandom(3000)})
    original = sy.Client().datasets.add(raw, "records").version
    run_id = subprocess.run([sys.executable, "train.py", "0.5"], cwd=work, check=True,
                            capture_output=True, text=True,
                            env={**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
                            ).stdout.strip()

    out = tmp_path / "repro"
    ok("runs", "reproduce", run_id, "-o", str(out))
    summary = json.loads((out / "reproduce.json").read_text())
    assert summary["datasets"] == [{"ref": "records@v1", "digest": original.digest,
                                    "path": "data/records"}]
    assert summary["code"]["commit"] == _git(work, "rev-parse", "HEAD").strip()
    assert summary["command"].endswith("train.py 0.5")
    assert json.loads((out / "params.json").read_text()) == {"C": "0.5"}
    assert (out / "code.patch").read_text() == _git(work, "diff", "HEAD")
    assert "tomli" in (out / "requirements.lock").read_text() or (
        out / "requirements.lock").stat().st_size > 0
    # The restored data is the same version, byte for byte: re-adding it gives its digest.
    readded = sy.Client().datasets.add(out / "data" / "records", "check").version
    assert readded.digest == original.digest
    # The script's git steps rebuild the dirty tree from the remote, commit and patch.
    script = (out / "reproduce.sh").read_text()
    assert f"git checkout --quiet {summary['code']['commit']}" in script
    clone = tmp_path / "rebuilt"
    _git(tmp_path, "clone", "-q", summary["code"]["remote"], str(clone))
    _git(clone, "checkout", "-q", summary["code"]["commit"])
    _git(clone, "apply", str(out / "code.patch"))
    assert (clone / "train.py").read_text() == (work / "train.py").read_text()
    assert failed("runs", "reproduce", run_id, "-o", str(out)).stderr.startswith(
        "Error: ") and "not an empty folder" in failed("runs", "reproduce", run_id, "-o",
                                                       str(out)).stderr


@pytest.mark.slow
def test_a_killed_add_leaves_no_version_and_a_second_add_completes(tmp_path: Path,
                                                                   shipyard_home: Path) -> None:
    raw = tmp_path / "raw"
    for folder in range(6):  # files too large to be packed: one blob each, stored one by one
        write_tree(raw / f"d{folder}", {f"f{i}.bin": os.urandom(300_000) for i in range(50)})
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    blobs = shipyard_home / "artifacts" / "blobs"
    proc = subprocess.Popen([sys.executable, "-m", "shipyard", "data", "add", str(raw),
                             "--name", "records"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if blobs.exists() and sum(1 for p in blobs.rglob("*") if p.is_file()) > 40:
            break  # storing is under way
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    assert proc.returncode == -9, "the add finished before it could be interrupted"
    assert as_json("data", "ls")["datasets"] == []
    done = as_json("data", "add", str(raw), "--name", "records")
    assert done["ref"] == "records@v1" and done["file_count"] == 300
    out = tmp_path / "restored"
    ok("data", "get", "records", "-o", str(out))
    for path in raw.rglob("*.bin"):
        assert (out / path.relative_to(raw)).read_bytes() == path.read_bytes()
