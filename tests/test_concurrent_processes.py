"""Eight processes logging into one SQLite file at once lose no point and never fail."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import shipyard as sy

WORKERS = 8
BATCHES = 40
POINTS_PER_BATCH = 50

WORKER = textwrap.dedent(f"""
    import sys
    import shipyard as sy
    worker = int(sys.argv[1])
    with sy.start_run(experiment="swarm", run_name=f"worker-{{worker}}"):
        sy.log_params({{"worker": worker}})
        for batch in range({BATCHES}):
            for i in range({POINTS_PER_BATCH}):
                sy.log_metric("x", float(i), step=batch * {POINTS_PER_BATCH} + i)
            sy.set_tag("batch", batch)
            sy.log_metric("synced", batch, step=batch, synchronous=True)
""")


def test_eight_writers_one_sqlite_file(shipyard_home: Path) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home),
           "SHIPYARD_METRIC_FLUSH_INTERVAL": "0.01", "SHIPYARD_METRIC_BUFFER_SIZE": "20"}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(WORKERS)
    ]
    outputs = [proc.communicate(timeout=240) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert "database is locked" not in stderr
        assert proc.returncode == 0, stderr
    runs = sy.search_runs(experiments="swarm")
    assert len(runs) == WORKERS
    for run in runs:
        assert run.info.status == sy.RunStatus.FINISHED
        assert run.data.tags["batch"] == str(BATCHES - 1)
        steps = [m.step for m in sy.get_metric_history(run.run_id, "x")]
        assert steps == list(range(BATCHES * POINTS_PER_BATCH))
        assert len(sy.get_metric_history(run.run_id, "synced")) == BATCHES
