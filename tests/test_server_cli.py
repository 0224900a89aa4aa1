"""``shipyard server`` as users start it: a subprocess on a free port.

Its start-up latency and idle memory are goals measured by ``benchmarks/tracking_server.py``
beside MLflow's, not here: these tests check behaviour only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from shipyard.store.rest.client import RestTrackingStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """Start ``shipyard server``; yield it, its URL and the seconds until /health answered."""
    port = _free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"),
           "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    env.pop("SHIPYARD_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    tmp_path.mkdir(parents=True, exist_ok=True)
    with (tmp_path / f"server-{port}.log").open("wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "shipyard", "server", "--port", str(port),
                                 *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() - started > 30:
                    pytest.fail("shipyard server did not start: "
                                + (tmp_path / f"server-{port}.log").read_text())
                time.sleep(0.005)
            yield proc, url, time.monotonic() - started
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_server_serves_and_stops_cleanly(tmp_path: Path) -> None:
    with _server(tmp_path) as (proc, url, _latency):
        store = RestTrackingStore(url, retries=0)
        run = store.create_run(store.create_experiment("cli"))
        store.log_artifact_bytes(run.run_id, "a.txt", b"hello")
        assert store.get_run(run.run_id).run_id == run.run_id
        with store.open_artifact(run.run_id, "a.txt") as stream:
            assert stream.read() == b"hello"
        store.close()
    assert proc.returncode == 0  # a clean stop on Ctrl-C
    assert (tmp_path / "home" / "shipyard.db").exists()  # the embedded store by default


def test_server_options_choose_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "artifact-folder"  # a plain folder, not a URL
    database = tmp_path / "meta.db"
    with _server(tmp_path, "--backend-store-uri", f"sqlite:///{database}",
                 "--artifacts-destination", str(folder)) as (_, url, _latency):
        with RestTrackingStore(url) as store:
            run = store.create_run(store.create_experiment("chosen"))
            store.log_artifact_bytes(run.run_id, "notes.txt", b"kept")
        # The MLflow-compatible API is served beside Shipyard's own.
        answer = httpx.get(f"{url}/api/2.0/mlflow/experiments/get-by-name",
                           params={"experiment_name": "chosen"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["experiment"]["name"] == "chosen"
    assert database.exists() and not (tmp_path / "home").exists()
    assert any(path.is_file() for path in folder.rglob("*"))


def test_server_refuses_a_server_url_as_its_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "server", "--backend-store-uri",
         "http://user:secret@elsewhere:5000"],
        env={**os.environ, "SHIPYARD_HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=60, check=False)
    assert result.returncode == 1
    assert "--backend-store-uri" in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_server_with_auth_requires_a_token(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.errors import UnauthenticatedError
    from shipyard.services.auth import AuthService
    from shipyard.store.db import create_db_engine

    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
    database = tmp_path / "meta.db"
    engine = create_db_engine(f"sqlite:///{database}")
    _user, token = AuthService(engine).create_user("alice", role="contributor", actor="ops")
    engine.dispose()
    with _server(tmp_path, "--auth", "--backend-store-uri", f"sqlite:///{database}") as (
            _, url, _latency):
        assert httpx.get(f"{url}/api/v1/experiments").status_code == 401
        with RestTrackingStore(url, retries=0) as store:
            with pytest.raises(UnauthenticatedError, match="SHIPYARD_TOKEN"):
                store.create_experiment("refused")
            monkeypatch.setenv("SHIPYARD_TOKEN", token)
            run = store.create_run(store.create_experiment("with-a-token"))
            assert store.get_run(run.run_id).info.experiment_id == run.info.experiment_id
