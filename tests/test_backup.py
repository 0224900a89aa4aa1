"""``shipyard backup`` / ``restore`` of the embedded store, on real SQLite files and folders."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from shipyard.entities import Metric
from shipyard.errors import BackendError
from shipyard.sdk.client import Client
from shipyard.services import restore as restore_module
from shipyard.services.backup_format import MANIFEST
from shipyard.services.local_store import local_store
from shipyard.store.tracking.factory import forget_open_stores
from tests.cli_support import failed, ok

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from shipyard.entities import Metric
    from shipyard.sdk.client import Client

    ready, stop = Path(sys.argv[1]), Path(sys.argv[2])
    client = Client()
    run_id = client.create_run(client.create_experiment("busy"), run_name="writer").run_id
    print(run_id, flush=True)
    step, deadline = 0, time.monotonic() + 60
    while not stop.exists() and time.monotonic() < deadline:
        # the artifact of a step is logged before its metric point
        client.log_text(run_id, f"content of step {step}", f"steps/{step}.txt")
        client.log_batch(run_id, [Metric("loss", float(step), 1_700_000_000_000 + step, step)])
        step += 1
        if step == 20:
            ready.touch()
    print(step, flush=True)
""")


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    forget_open_stores()


def _seed(name: str = "seeded") -> str:
    client = Client()
    run_id = client.create_run(client.create_experiment(name), run_name="r").run_id
    client.log_batch(run_id, [Metric("f1", 0.5, 1, 0)], params={"C": "1"})
    client.log_text(run_id, f"model of {name}", "model.txt")
    return run_id


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".shipyard-*")] if folder.exists() else []


def test_backup_while_another_process_logs(shipyard_home: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ready, stop, archive = tmp_path / "ready", tmp_path / "stop", tmp_path / "busy.tar"
    Client()  # create and migrate the store first, so the writer starts logging at once
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ready), str(stop)],
        env={**os.environ, "SHIPYARD_HOME": str(shipyard_home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert writer.poll() is None and time.monotonic() < deadline, writer.stderr
            time.sleep(0.05)
        ok("backup", "-o", str(archive))
        time.sleep(0.3)  # the writer goes on after the snapshot
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    run_id, total = out.split()

    source = Client()
    source_history = source.get_metric_history(run_id, "loss")
    assert len(source_history) == int(total)

    _use_home(monkeypatch, tmp_path / "restored")
    assert "Restored" in ok("restore", str(archive)).stdout
    restored = Client()
    history = restored.get_metric_history(run_id, "loss")
    snapshot_steps = len(history)
    assert 20 <= snapshot_steps < int(total)  # a snapshot taken mid-stream
    assert history == source_history[:snapshot_steps]  # exactly what existed then
    assert restored.get_run(run_id).data.metrics == {"loss": float(snapshot_steps - 1)}
    files = {a.path for a in restored.list_artifacts(run_id, "steps")}
    # every step's artifact precedes its point: the snapshot holds those steps, and at most
    # the one whose artifact was written while its point was not yet
    assert {f"steps/{s}.txt" for s in range(snapshot_steps)} <= files
    assert len(files) - snapshot_steps in (0, 1)
    for path in files:  # every artifact the snapshot names has its bytes
        step = path.removeprefix("steps/").removesuffix(".txt")
        assert restored.read_artifact_bytes(run_id, path) == f"content of step {step}".encode()


def test_round_trip_with_gzip(shipyard_home: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _seed()
    archive = tmp_path / "store.tar.gz"
    text = ok("backup", "-o", str(archive)).stdout
    assert "1 run," in text and str(archive) in text
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    assert names[:2] == [MANIFEST, "shipyard.db"]
    assert all(name.startswith("artifacts/blobs/") for name in names[2:])
    assert manifest["format"] == "shipyard-backup" and manifest["schema_revision"]
    assert manifest["database"]["tables"]["runs"] == 1

    _use_home(monkeypatch, tmp_path / "elsewhere")
    ok("restore", str(archive))
    client = Client()
    run = client.get_run(run_id)
    assert (run.data.params, run.data.metrics) == ({"C": "1"}, {"f1": 0.5})
    assert client.read_artifact_bytes(run_id, "model.txt") == b"model of seeded"
    assert _leftovers(tmp_path / "elsewhere") == []


def test_restore_refuses_a_store_with_data_unless_forced(
        shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backed_up = _seed("from-backup")
    archive = tmp_path / "a.tar"
    ok("backup", "-o", str(archive))
    _use_home(monkeypatch, tmp_path / "busy-home")
    other = _seed("already-here")
    forget_open_stores()
    message = failed("restore", str(archive)).stderr
    assert "already holds" in message and "--force" in message
    assert Client().get_run(other)  # untouched
    forget_open_stores()
    ok("restore", str(archive), "--force")
    client = Client()
    assert client.get_run(backed_up).info.run_name == "r"
    assert [e.name for e in client.search_experiments()] == ["from-backup"]
    assert _leftovers(tmp_path / "busy-home") == []


def test_restore_into_a_store_that_holds_nothing_needs_no_force(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed()
    archive = tmp_path / "a.tar"
    ok("backup", "-o", str(archive))
    _use_home(monkeypatch, tmp_path / "empty")
    ok("runs", "list")  # creates an empty database
    forget_open_stores()
    ok("restore", str(archive))
    assert len(Client().search_runs()) == 1


def _bad_archives(good: Path, folder: Path) -> dict[str, Path]:
    """Files that are not (whole) Shipyard backups."""
    data = good.read_bytes()
    bad = {"text": folder / "notes.tar", "truncated": folder / "truncated.tar",
           "foreign": folder / "foreign.tar", "tampered": folder / "tampered.tar"}
    bad["text"].write_text("just some text\n")
    bad["truncated"].write_bytes(data[: len(data) * 2 // 3])
    with tarfile.open(bad["foreign"], "w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    with tarfile.open(good) as source, tarfile.open(bad["tampered"], "w") as tar:
        for member in source:
            content = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("artifacts/blobs/"):
                content = content.upper()
            tar.addfile(member, io.BytesIO(content))
    return bad


def test_restore_rejects_what_is_not_a_whole_backup(
        shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed("backed-up")
    good = tmp_path / "good.tar"
    ok("backup", "-o", str(good))
    target = tmp_path / "target"
    _use_home(monkeypatch, target)
    kept = _seed("precious")
    forget_open_stores()
    expected = {"text": "not a Shipyard backup", "foreign": "not a Shipyard backup",
                "truncated": "damaged or incomplete", "tampered": "holds other content"}
    for kind, path in _bad_archives(good, tmp_path).items():
        message = failed("restore", str(path), "--force").stderr
        assert expected[kind] in message, (kind, message)
        assert Client().get_run(kept).info.run_name == "r"  # the store is as it was
        assert Client().read_artifact_bytes(kept, "model.txt") == b"model of precious"
        assert _leftovers(target) == [], kind
        forget_open_stores()
    assert "does not exist" in failed("restore", str(tmp_path / "missing.tar")).stderr


def test_a_failed_swap_puts_the_old_store_back(
        shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed("backed-up")
    archive = tmp_path / "a.tar"
    ok("backup", "-o", str(archive))
    _use_home(monkeypatch, tmp_path / "target")
    kept = _seed("precious")
    forget_open_stores()
    real_rename = os.rename
    failures: list[object] = []

    def failing_rename(source: str | Path, target: str | Path) -> None:
        # the last step, the new database moving in, fails once; undoing works
        if Path(target).name == "shipyard.db" and not failures:
            failures.append(target)
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", failing_rename)
    store = local_store("restore")
    with pytest.raises(BackendError, match="left as it was"):
        restore_module.restore(archive, store, force=True)
    monkeypatch.setattr(os, "rename", real_rename)
    assert failures
    assert Client().read_artifact_bytes(kept, "model.txt") == b"model of precious"
    assert _leftovers(tmp_path / "target") == []


def test_backup_refuses_bad_outputs_and_stores(
        shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "no store to back up" in failed("backup", "-o", str(tmp_path / "x.tar")).stderr
    _seed()
    assert ".tar" in failed("backup", "-o", str(tmp_path / "x.zip")).stderr
    existing = tmp_path / "exists.tar"
    existing.write_text("keep")
    assert "already exists" in failed("backup", "-o", str(existing)).stderr
    assert existing.read_text() == "keep"
    assert "does not exist" in failed("backup", "-o", str(tmp_path / "no" / "x.tar")).stderr
    assert not list(tmp_path.glob(".shipyard-backup-*"))

    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "postgresql+psycopg://u@127.0.0.1/db")
    for command in (("backup", "-o", str(tmp_path / "pg.tar")), ("restore", str(existing))):
        assert "pg_dump" in failed(*command).stderr
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "http://127.0.0.1:9")
    assert "server" in failed("backup", "-o", str(tmp_path / "s.tar")).stderr
    monkeypatch.delenv("SHIPYARD_TRACKING_URI")
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URI", "s3://bucket/prefix")
    assert "aws s3 sync" in failed("backup", "-o", str(tmp_path / "s3.tar")).stderr


def test_a_backup_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    from shipyard.services.backup_format import BackupManifest

    manifest = BackupManifest("9.0", "9999", 0, 0)
    path = tmp_path / "future.tar"
    with tarfile.open(path, "w") as tar:
        data = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert "upgrade Shipyard" in failed("restore", str(path)).stderr
