"""Audit log: how long `audit verify` takes over 100,000 events (no peer tool does this).

    .venv/bin/python benchmarks/audit_verify.py           # 100,000 events on SQLite
    .venv/bin/python benchmarks/audit_verify.py --quick   # 2,000 events (the smoke form)
    .venv/bin/python benchmarks/audit_verify.py --database-url postgresql+psycopg://...
                                                          # on PostgreSQL (the tables of that
                                                          # database are dropped first)

The events are appended through the real path, ``services.audit.append`` inside write
transactions of 1,000 events each, with states of a realistic size (an alias move: a small
JSON object before and after). Then the whole chain is verified, in-process
(``AuditLog.verify``, the goal's figure, median of the trials) and through the CLI
(``shipyard audit verify --json``, wall time including interpreter start, for information).
There is no peer to compare with, so there are no ratios; the goal is an absolute time:
verify 100,000 events in under 2 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _harness as h

GOAL_S = 2.0
BATCH = 1_000  # events per write transaction while filling the chain


def fill(log: Any, events: int) -> float:
    """Append ``events`` events; returns the seconds it took."""
    start = time.perf_counter()
    done = 0
    while done < events:
        with log.transaction() as conn:
            for _ in range(min(BATCH, events - done)):
                done += 1
                name = f"model-{done % 97}"
                log.append(conn, actor=f"user{done % 7}@example.com", action="alias.set",
                           entity_type="alias", entity_id=f"{name}@production",
                           before={"alias": "production", "version": done - 1},
                           after={"alias": "production", "version": done},
                           reason=f"promote after evaluation run {done:08d}")
    return time.perf_counter() - start


def wipe(url: str) -> None:
    from sqlalchemy import text

    from shipyard.store.db import create_db_engine

    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def cli_verify(env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "shipyard", "audit", "verify", "--json"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"shipyard audit verify exited {done.returncode}: {done.stderr}")
    return seconds


def run(events: int, trials: int, url: str | None, root: Path) -> dict[str, Any]:
    from shipyard.services.audit import open_audit_log

    home = root / "home"
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    if url:
        wipe(url)
        env["SHIPYARD_TRACKING_URI"] = url
    os.environ.update(env)  # this process and the CLI see the same store, key and checkpoint
    log = open_audit_log()
    h.log(f"appending {events} events")
    append_s = fill(log, events)
    h.log(f"appended in {append_s:.1f} s; verifying")
    samples, report = [], None
    for _ in range(trials):
        started = time.perf_counter()
        report = log.verify()
        samples.append(time.perf_counter() - started)
    assert report is not None
    cli = [cli_verify(env) for _ in range(min(trials, 3))]
    log.engine.dispose()
    return {
        "backend": log.engine.dialect.name,
        "events": events,
        "append": {"seconds": round(append_s, 3), "events_per_s": round(events / append_s),
                   "events_per_transaction": BATCH},
        "verify": {**h.summary(samples), "events_per_s": round(events / min(samples))},
        "verify_cli": h.summary(cli),
        "checks": {"verified": report.ok and report.events == events},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 events, one trial")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL URL whose tables may be dropped (default: SQLite)")
    args = parser.parse_args(argv)
    events, trials = (2_000, 1) if args.quick else (100_000, 5)
    machine = h.machine_info()
    ours: dict[str, Any] = {}
    error = None
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-audit-") as tmp:
        try:
            ours = run(events, trials, args.database_url, Path(tmp))
        except Exception:
            error = traceback.format_exc()
            print(error, file=sys.stderr)
            ours["error"] = error.strip().splitlines()[-1]
    goals: dict[str, Any] = {}
    if error is None and not args.quick:
        goals["verify_100k_s"] = h.goal_below(GOAL_S, ours["verify"]["median_s"], "s")
        goals["verify_100k_cli_s"] = h.goal_below(GOAL_S, ours["verify_cli"]["median_s"], "s")
    h.emit("audit_verify", machine, ours, None, {}, goals)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
