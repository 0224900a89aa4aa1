"""The auditor's bundle, checked by its own standalone verify.py under the system Python,
and the `shipyard audit` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from shipyard.services.audit import AuditLog, checkpoint_path, key_file_path
from tests.audit_support import engine, fill, log, tamper, url
from tests.cli_support import as_json, cli, ok

__all__ = ["engine", "log", "url"]  # fixtures
SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


# -- Export ----------------------------------------------------------------------------------


def _unzip(bundle: Path, folder: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(folder)
    return folder


def _standalone(folder: Path, key_file: Path) -> tuple[int, dict[str, object]]:
    """Run the bundle's verify.py with the system Python, isolated from this project."""
    done = subprocess.run([SYSTEM_PYTHON, "-I", "verify.py", "--key-file", str(key_file)],
                          cwd=folder, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"}, check=False)
    return done.returncode, json.loads(done.stdout)


def test_the_export_bundle_verifies_with_the_standard_library(
        log: AuditLog, tmp_path: Path) -> None:
    fill(log, 5)
    log.record(actor="zoë", action="model.update", entity_type="model", entity_id="fraud",
               before={"description": "old"}, after={"description": "ünïcode ✓\n"},
               reason="naïve reason")
    result = log.export(tmp_path / "bundle.zip")
    assert result.events == 6 and result.verification.ok
    folder = _unzip(result.path, tmp_path / "bundle")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "checkpoint.json", "events.jsonl", "manifest.json", "verify.py"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] and manifest["events"] == 6
    assert manifest["verification"]["ok"] is True
    assert "hmac" in (folder / "README.md").read_text()
    assert _standalone(folder, key_file_path()) == (0, {
        "ok": True, "first_bad_seq": None,
        "message": f"6 events verified, the last is 6 with MAC {manifest['head_mac']}"})

    # An edited line, then a deleted one, are found by the standalone script too.
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    edited = json.loads(lines[3])
    edited["actor"] = "mallory"
    (folder / "events.jsonl").write_text(
        "".join([*lines[:3], json.dumps(edited) + "\n", *lines[4:]]), encoding="utf-8")
    code, verdict = _standalone(folder, key_file_path())
    assert (code, verdict["ok"], verdict["first_bad_seq"]) == (1, False, 4)
    (folder / "events.jsonl").write_text("".join([*lines[:3], *lines[4:]]), encoding="utf-8")
    code, verdict = _standalone(folder, key_file_path())
    assert (code, verdict["first_bad_seq"]) == (1, 4)


def test_an_entity_export_verifies_event_by_event(log: AuditLog, tmp_path: Path) -> None:
    log.record(actor="a", action="model.create", entity_type="model", entity_id="fraud")
    log.record(actor="a", action="model.create", entity_type="model", entity_id="churn")
    log.record(actor="b", action="alias.set", entity_type="alias", entity_id="fraud@prod",
               after={"version": 1})
    result = log.export(tmp_path / "fraud.zip", entity="fraud")
    assert result.events == 2
    folder = _unzip(result.path, tmp_path / "fraud")
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == [1, 3]
    assert json.loads((folder / "manifest.json").read_text())["complete"] is False
    code, verdict = _standalone(folder, key_file_path())
    assert code == 0 and verdict["ok"] is True


# -- CLI -------------------------------------------------------------------------------------


def test_cli_verify_log_and_export(shipyard_home: Path, tmp_path: Path) -> None:
    from shipyard.services.audit import open_audit_log

    assert ok("audit", "verify").stdout.startswith("OK: 0 event(s) verified")
    log = open_audit_log()
    fill(log, 6)
    assert as_json("audit", "verify")["events"] == 6
    shown = as_json("audit", "log", "--entity", "fraud", "--limit", "2")
    assert [e["seq"] for e in shown["events"]] == [6, 5]
    assert shown["events"][0]["after"] == {"version": 6} and shown["events"][0]["time"]
    assert "alias.set" in ok("audit", "log").stdout
    exported = as_json("audit", "export", "-o", str(tmp_path / "all.zip"))
    assert exported["events"] == 6 and exported["verification"]["ok"]

    tamper(log.engine, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    broken = cli("audit", "verify")
    assert broken.exit_code == 1 and "Traceback" not in broken.stderr
    assert broken.stderr.startswith("Error: the audit chain is broken at event 3: ")
    broken = cli("audit", "verify", "--json")
    assert broken.exit_code == 1 and json.loads(broken.stdout)["first_bad_seq"] == 3
    written = cli("audit", "export", "fraud", "-o", str(tmp_path / "fraud.zip"))
    assert written.exit_code == 1 and (tmp_path / "fraud.zip").exists()
    assert "the bundle was written, but the audit chain is broken at event 3" in written.stderr
    log.engine.dispose()


def test_a_damaged_checkpoint_still_exports(log: AuditLog, tmp_path: Path) -> None:
    fill(log, 2)
    checkpoint_path().write_text("{not json")
    result = log.export(tmp_path / "b.zip")
    assert result.events == 2 and not result.verification.ok
    assert "damaged" in (result.verification.reason or "")
    folder = _unzip(result.path, tmp_path / "b")
    assert not (folder / "checkpoint.json").exists()
    assert _standalone(folder, key_file_path())[0] == 0  # the events themselves are intact
