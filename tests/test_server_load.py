"""Sixteen processes logging through one `shipyard server` into PostgreSQL lose no point."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_SKIP, PG_URL, wipe_postgres

WORKERS = 16
BATCHES = 20
POINTS_PER_BATCH = 50

WORKER = textwrap.dedent(f"""
    import sys
    import shipyard as sy
    experiment, worker = sys.argv[1], int(sys.argv[2])
    with sy.start_run(experiment=experiment, run_name=f"worker-{{worker}}", log_context=False):
        sy.log_params({{"worker": worker}})
        for batch in range({BATCHES}):
            for i in range({POINTS_PER_BATCH}):
                sy.log_metric("x", float(i), step=batch * {POINTS_PER_BATCH} + i)
            sy.set_tag("batch", batch)
""")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_on_postgres(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        pytest.skip(PG_SKIP)
    wipe_postgres(PG_URL)
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")  # a file: a full pipe would stall the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", PG_URL, "--artifacts-destination", str(tmp_path / "artifacts"),
         "--workers", "2"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("shipyard server did not start: "
                            + (tmp_path / "server.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.postgres
def test_sixteen_writers_through_the_server(server_on_postgres: str, tmp_path: Path) -> None:
    experiment = f"load-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "SHIPYARD_TRACKING_URI": server_on_postgres,
           "SHIPYARD_HOME": str(tmp_path / "client-home"),
           "SHIPYARD_METRIC_FLUSH_INTERVAL": "0.05", "SHIPYARD_METRIC_BUFFER_SIZE": "100"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, experiment, str(n)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(WORKERS)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr

    from shipyard.sdk.client import Client
    from shipyard.store.rest.client import RestTrackingStore

    with RestTrackingStore(server_on_postgres) as store:
        client = Client(store=store)
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        runs = list(client.iter_runs([found.experiment_id]))
        assert len(runs) == WORKERS
        for run in runs:
            assert run.info.status == "FINISHED"
            assert run.data.tags["batch"] == str(BATCHES - 1)
            steps = [m.step for m in client.get_metric_history(run.run_id, "x")]
            assert steps == list(range(BATCHES * POINTS_PER_BATCH))
