"""The tamper-evident audit log: appends in the caller's transaction, a gap-free chain under
concurrent writers, and every kind of tampering detected at the right event, on SQLite and
PostgreSQL. Export and the CLI: tests/test_audit_export.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from shipyard.services.audit import (
    AuditLog,
    Checkpoint,
    advance_checkpoint,
    canonical,
    checkpoint_path,
    key_file_path,
    key_id,
    load_key,
    read_checkpoint,
)
from tests.audit_support import engine, fill, log, rewrite, tamper, url

__all__ = ["engine", "log", "url"]  # fixtures


# -- Appending -------------------------------------------------------------------------------


def test_events_commit_with_the_change_and_move_the_checkpoint(log: AuditLog) -> None:
    with log.transaction() as conn:
        first = log.append(conn, actor="alice", action="model.create", entity_type="model",
                           entity_id="fraud", after={"name": "fraud", "tags": {"b": 1, "a": 2}})
        second = log.append(conn, actor="alice", action="version.create",
                            entity_type="version", entity_id="fraud/1", after={"version": 1},
                            reason="first model")
    assert (first.seq, second.seq) == (1, 2)
    assert first.after == '{"name":"fraud","tags":{"a":2,"b":1}}'  # canonical JSON text
    assert first.before is None and first.after_value()["tags"] == {"a": 2, "b": 1}
    checkpoint = read_checkpoint(checkpoint_path())
    assert checkpoint is not None
    assert (checkpoint.seq, checkpoint.length, checkpoint.mac) == (2, 2, second.mac)
    assert checkpoint.key_id == key_id(log.key())
    report = log.verify()
    assert report.ok and report.events == 2 and report.head_mac == second.mac


def test_a_rolled_back_transaction_leaves_no_event_and_no_checkpoint_move(log: AuditLog
                                                                          ) -> None:
    fill(log, 2)
    before = checkpoint_path().read_text()
    with pytest.raises(ZeroDivisionError), log.transaction() as conn:
        log.append(conn, actor="bob", action="alias.set", entity_type="alias",
                   entity_id="fraud@prod", after={"version": 9})
        _ = 1 / 0  # the change fails after its event was appended
    assert log.count() == 2
    assert checkpoint_path().read_text() == before
    assert log.verify().ok
    assert log.record(actor="bob", action="alias.delete", entity_type="alias",
                      entity_id="fraud@prod").seq == 3  # no gap left behind


def test_append_needs_a_write_transaction(log: AuditLog, engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(RuntimeError, match="open transaction"):
        log.append(conn, actor="a", action="x.y", entity_type="model", entity_id="m")
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn, pytest.raises(RuntimeError, match="BEGIN IMMEDIATE"):
            log.append(conn, actor="a", action="x.y", entity_type="model", entity_id="m")
    with log.transaction() as conn, pytest.raises(InvalidInputError) as caught:
        log.append(conn, actor="", action="x.y", entity_type="model", entity_id="m")
    assert caught.value.field == "actor"
    with log.transaction() as conn, pytest.raises(InvalidInputError, match="strict JSON"):
        log.append(conn, actor="a", action="x.y", entity_type="model", entity_id="m",
                   after={"auc": float("nan")})
    assert log.count() == 0


def test_events_are_read_by_entity(log: AuditLog) -> None:
    for entity_type, entity_id in [("model", "fraud"), ("version", "fraud/1"),
                                   ("alias", "fraud@prod"), ("model", "fraud2"),
                                   ("model", "a_b"), ("model", "axb")]:
        log.record(actor="alice", action=f"{entity_type}.create", entity_type=entity_type,
                   entity_id=entity_id)
    assert [e.entity_id for e in log.events(entity="fraud")] == [
        "fraud@prod", "fraud/1", "fraud"]
    assert [e.entity_id for e in log.events(entity="fraud", entity_type="version")] == [
        "fraud/1"]
    assert [e.entity_id for e in log.events(entity="a_b")] == ["a_b"]  # no LIKE wildcard
    assert [e.seq for e in log.events(limit=2)] == [6, 5]
    assert [e.seq for e in log.events(limit=2, newest_first=False)] == [1, 2]


# -- Concurrency -----------------------------------------------------------------------------


def test_threads_appending_at_once_keep_one_gap_free_chain(log: AuditLog) -> None:
    log.key(create=True)  # the key file exists before the threads start
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                log.record(actor=f"thread{n}", action="alias.set", entity_type="alias",
                           entity_id=f"m@a{n}", after={"i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.seq for e in log.events(newest_first=False)] == list(range(1, 61))
    report = log.verify()
    assert report.ok and report.events == 60
    checkpoint = read_checkpoint(checkpoint_path())
    assert checkpoint is not None and checkpoint.seq == 60


WRITER = textwrap.dedent("""
    import sys
    from shipyard.services.audit import open_audit_log
    log = open_audit_log()
    for i in range(15):
        log.record(actor=f"process{sys.argv[1]}", action="model.update", entity_type="model",
                   entity_id="fraud", after={"i": i})
""")


def test_processes_appending_at_once_keep_one_gap_free_chain(url: str, engine: Engine,
                                                             shipyard_home: Path) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home), "SHIPYARD_TRACKING_URI": url}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(n)], env=env,
                              stderr=subprocess.PIPE, text=True) for n in range(3)]
    for proc in procs:  # they race to create the key file too: one key must win
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    log = AuditLog(engine)
    assert [e.seq for e in log.events(newest_first=False)] == list(range(1, 46))
    report = log.verify()
    assert report.ok and report.events == 45
    checkpoint = read_checkpoint(checkpoint_path())
    assert checkpoint is not None and checkpoint.seq == 45


# -- Tampering -------------------------------------------------------------------------------


def test_an_edited_event_is_found(log: AuditLog, engine: Engine) -> None:
    fill(log, 10)
    tamper(engine, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == 5 and report.events == 4
    assert "event 5 was altered" in (report.reason or "")


def test_a_deleted_event_in_the_middle_is_found(log: AuditLog, engine: Engine) -> None:
    fill(log, 10)
    tamper(engine, "DELETE FROM audit_events WHERE seq = 5")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 5
    assert "event 5 is missing" in (report.reason or "")


def test_a_deleted_event_with_the_rest_renumbered_is_found(log: AuditLog,
                                                           engine: Engine) -> None:
    fill(log, 10)
    tamper(engine, "DELETE FROM audit_events WHERE seq = 5")
    tamper(engine, "UPDATE audit_events SET seq = seq - 1 WHERE seq > 5")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 5


def test_a_cut_off_tail_is_found(log: AuditLog, engine: Engine) -> None:
    fill(log, 10)
    tamper(engine, "DELETE FROM audit_events WHERE seq > 7")
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == 8 and report.events == 7
    assert "cut off" in (report.reason or "")


def test_a_cut_off_tail_followed_by_new_events_is_found(log: AuditLog, engine: Engine) -> None:
    fill(log, 10)
    tamper(engine, "DELETE FROM audit_events WHERE seq > 7")
    fill(log, 3)  # events 8..10 again, different ones
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 10
    assert "checkpoint" in (report.reason or "")


def test_a_chain_rewritten_without_the_key_is_found(log: AuditLog, engine: Engine) -> None:
    fill(log, 10)
    rewrite(engine, b"forger's own key, 32 bytes long!", {"actor": "mallory"})
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 1 and report.events == 0
    # Replacing the checkpoint as well does not help: it names the forger's key.
    forged = Checkpoint(seq=10, mac="f" * 64, length=10, key_id=key_id(b"x" * 32), time=1)
    checkpoint_path().unlink()
    advance_checkpoint(checkpoint_path(), forged)
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 1
    # And neither does deleting it.
    checkpoint_path().unlink()
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 1
    assert "rewritten" in (report.reason or "")


def test_a_chain_rewritten_with_the_key_disagrees_with_the_checkpoint(log: AuditLog,
                                                                      engine: Engine) -> None:
    fill(log, 10)
    rewrite(engine, log.key(), {"actor": "mallory"})  # an insider holding the key
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 10
    assert "not the one the checkpoint recorded" in (report.reason or "")


def test_the_wrong_key_is_found(log: AuditLog, engine: Engine) -> None:
    fill(log, 4)
    wrong = AuditLog(engine, key=b"another key of 32 bytes, wrong!!")
    report = wrong.verify()
    assert not report.ok and report.first_bad_seq == 1
    assert "is not the one the chain was written with" in (report.reason or "")
    checkpoint_path().unlink()  # without the checkpoint, the MACs fail from the first event
    report = wrong.verify()
    assert not report.ok and report.first_bad_seq == 1
    assert "key" in (report.reason or "")


def test_a_damaged_checkpoint_fails_verification(log: AuditLog) -> None:
    fill(log, 2)
    checkpoint_path().write_text("{not json")
    report = log.verify()
    assert not report.ok and "damaged" in (report.reason or "")


def test_the_checkpoint_only_moves_forward(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    assert advance_checkpoint(path, Checkpoint(5, "a" * 64, 5, "k", 1))
    assert not advance_checkpoint(path, Checkpoint(3, "b" * 64, 3, "k", 2))
    assert read_checkpoint(path) == Checkpoint(5, "a" * 64, 5, "k", 1)
    assert advance_checkpoint(path, Checkpoint(6, "c" * 64, 6, "k", 3))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- The key ---------------------------------------------------------------------------------


def test_the_key_file_is_created_private_and_reused(shipyard_home: Path) -> None:
    with pytest.raises(NotFoundError, match="no audit key"):
        load_key()
    key = load_key(create=True)
    path = key_file_path()
    assert path == shipyard_home / "audit.key" and len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key() == key == load_key(create=True)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_key_file_open_to_the_group_is_refused(shipyard_home: Path) -> None:
    load_key(create=True)
    key_file_path().chmod(0o640)
    with pytest.raises(BackendError, match="chmod 600") as caught:
        load_key()
    assert "open to group or others" in caught.value.message
    key_file_path().chmod(0o600)
    assert len(load_key()) == 32


def test_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "00ff" * 8)
    assert load_key() == bytes.fromhex("00ff" * 8)
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "a passphrase that is long enough")
    assert load_key() == b"a passphrase that is long enough"
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "short")
    with pytest.raises(InvalidInputError, match="at least 16"):
        load_key()


def test_verify_without_a_key(log: AuditLog, shipyard_home: Path) -> None:
    assert log.verify().ok  # nothing written, no key made yet
    assert not (shipyard_home / "audit.key").exists()
    fill(log, 1)
    (shipyard_home / "audit.key").unlink()
    with pytest.raises(NotFoundError, match="no audit key"):
        log.verify()


# -- The canonical form ----------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)


@given(seq=st.integers(1, 2**62), time=st.integers(0, 2**62), actor=_TEXT, action=_TEXT,
       entity_type=_TEXT, entity_id=_TEXT, before=st.none() | _TEXT,
       after=st.none() | _TEXT, reason=st.none() | _TEXT)
def test_canonical_is_sorted_key_json(seq: int, time: int, actor: str, action: str,
                                      entity_type: str, entity_id: str, before: str | None,
                                      after: str | None, reason: str | None) -> None:
    fields = {"seq": seq, "time": time, "actor": actor, "action": action,
              "entity_type": entity_type, "entity_id": entity_id, "before": before,
              "after": after, "reason": reason}
    expected = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")
    assert canonical(**fields) == expected
