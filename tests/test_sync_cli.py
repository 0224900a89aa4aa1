"""``shipyard sync`` on the command line: progress, summary, ``--json``, and clean errors."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests import cli_support as support
from tests.sync_support import dump, seed, sqlite_store


def cli(*args: str) -> Result:
    return support.cli("sync", *args)


def ok(*args: str) -> Result:
    return support.ok("sync", *args)


def as_json(*args: str) -> Any:
    return support.as_json("sync", *args)


def failed(*args: str) -> str:
    """A clean failure of ``shipyard sync``; its message."""
    return support.failed("sync", *args).stderr


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, list[str]]:
    folder = tmp_path / "source"
    store = sqlite_store(folder)
    names = seed(store)
    store.engine.dispose()
    return folder, names


def table_row(stdout: str, label: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if f" {label} " in line)
    return [cell.strip() for cell in line.strip("│┃ ").split("│")]


def test_sync_prints_progress_and_a_summary(source: tuple[Path, list[str]],
                                            tmp_path: Path) -> None:
    folder, names = source
    target = tmp_path / "target"
    result = ok("--from", str(folder), "--to", str(target))
    assert "Sync summary" in result.stdout
    assert table_row(result.stdout, "Runs") == ["Runs", "5", "0", "0"]
    assert table_row(result.stdout, "Experiments") == ["Experiments", "2", "0", "0"]
    assert "of artifacts copied" in result.stdout
    assert "5/5" in result.stderr and "runs" in result.stderr  # the progress bar
    assert (target / "shipyard.db").is_file() and (target / "artifacts").is_dir()

    again = ok("--from", str(folder), "--to", str(target))
    assert table_row(again.stdout, "Runs") == ["Runs", "0", "5", "0"]
    source_store, target_store = sqlite_store(folder), sqlite_store(target)
    want = dump(source_store, names)
    del want[names[2]]  # a deleted experiment: left out without --include-deleted
    got = dump(target_store, names)
    assert set(got) == set(want)
    for opened in (source_store, target_store):
        opened.engine.dispose()


def test_sync_json(source: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, _ = source
    target = tmp_path / "target"
    document = as_json("--from", str(folder), "--to", str(target), "--include-deleted")
    assert document["runs"] == {"copied": 7, "present": 0, "skipped": 0}
    assert document["experiments"]["copied"] == 3
    assert document["dry_run"] is False and document["warnings"] == []
    assert (document["source"], document["destination"]) == (str(folder), str(target))
    again = as_json("--from", str(folder), "--to", str(target), "--include-deleted")
    assert again["runs"] == {"copied": 0, "present": 7, "skipped": 0}
    assert again["metric_points"]["copied"] == 0 and again["artifact_bytes"] == 0


def test_dry_run_writes_nothing(source: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, _ = source
    target = tmp_path / "target"
    result = ok("--from", str(folder), "--to", str(target), "--dry-run")
    assert "Dry run: nothing was written" in result.stdout
    assert table_row(result.stdout, "Runs") == ["Runs", "5", "0", "0"]
    assert "To copy" in result.stdout and "of artifacts to copy" in result.stdout
    assert not target.exists()
    document = as_json("--from", str(folder), "--to", str(target), "--dry-run")
    assert document["dry_run"] is True and document["runs"]["copied"] == 5
    assert not target.exists()


def test_experiment_option(source: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, names = source
    document = as_json("--from", str(folder), "--to", str(tmp_path / "t"), "-e", names[1])
    assert document["experiments"]["copied"] == 1 and document["runs"]["copied"] == 1
    message = failed("--from", str(folder), "--to", str(tmp_path / "t"), "--experiment", "nope")
    assert "no experiment named 'nope'" in message and "(field: experiment)" in message


def test_warnings_are_printed(source: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, names = source
    target = tmp_path / "target"
    ok("--from", str(folder), "--to", str(target))
    store = sqlite_store(target)
    beta = store.get_experiment_by_name(names[1])
    assert beta is not None
    store.delete_experiment(beta.experiment_id)
    store.engine.dispose()
    result = ok("--from", str(folder), "--to", str(target))
    assert f"Warning: experiment '{names[1]}' is deleted at the destination" in result.stderr
    assert table_row(result.stdout, "Experiments") == ["Experiments", "0", "1", "1"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bad_input_is_a_clean_error(source: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, _ = source
    target = str(tmp_path / "target")
    message = failed("--from", "ftp://example.com/x", "--to", target)
    assert "ftp://example.com/x" in message and "mlflow+http" in message
    message = failed("--from", str(folder), "--to", f"sqlite:///{folder / 'shipyard.db'}")
    assert "the same store" in message
    message = failed("--from", "mlflow+sqlite:///./a.db", "--to", "sqlite:///./a.db")
    assert "the same store" in message
    port = _closed_port()
    message = failed("--from", f"mlflow+http://127.0.0.1:{port}", "--to", target)
    assert f"cannot reach the MLflow server at mlflow+http://127.0.0.1:{port}" in message
    message = failed("--from", f"mlflow+https://ana:secret@127.0.0.1:{port}", "--to", target)
    assert "ana:***@127.0.0.1" in message and "secret" not in message
    message = failed("--from", str(tmp_path / "nothing-here"), "--to", target)
    assert "is not a Shipyard store" in message and "nothing-here" in message
    message = failed("--from", f"mlflow+sqlite:///{tmp_path / 'missing.db'}", "--to", target)
    assert "is not an MLflow database file" in message
    message = failed("--from", str(folder), "--to", "mlflow+http://127.0.0.1:5000")
    assert "sync writes into Shipyard stores only" in message
    assert not Path(target).exists()  # nothing was created on the way


def test_an_mlflow_database_is_never_opened_as_a_shipyard_store(
    source: tuple[Path, list[str]], tmp_path: Path,
) -> None:
    """Without the mlflow+ prefix an MLflow database would be migrated as a Shipyard one: it
    is refused as a source and as a destination, and left as it was."""
    folder, _ = source
    mlflow_db = tmp_path / "mlflow.db"
    with sqlite3.connect(mlflow_db) as conn:
        conn.execute("CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name TEXT)")
    conn.close()
    before = mlflow_db.read_bytes()
    message = failed("--from", f"sqlite:///{mlflow_db}", "--to", str(tmp_path / "target"))
    assert f"is an MLflow database; read it with --from mlflow+sqlite:///{mlflow_db}" in message
    message = failed("--from", str(folder), "--to", f"sqlite:///{mlflow_db}")
    assert "is an MLflow database; sync writes into Shipyard stores only" in message
    message = failed("--from", "mlflow+./mlruns", "--to", str(tmp_path / "target"))
    assert "mlflow server --backend-store-uri ./mlruns" in message
    assert mlflow_db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db", "source"]


def test_missing_options_are_usage_errors() -> None:
    result = cli("--from", "x")
    assert result.exit_code == 2 and "--to" in result.stderr
