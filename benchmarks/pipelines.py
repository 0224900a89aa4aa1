"""Pipelines: Shipyard's local executor vs Apache Airflow 3.3.2's ``dag.test()``, in one run.

    .venv/bin/python benchmarks/pipelines.py           # full run (make bench-pipelines)
    .venv/bin/python benchmarks/pipelines.py --quick   # 10 steps, no peer (make test)

Sections (each a function returning a :class:`Section`; the JSON line is built from the dict
of sections, so another workload is one more function and one more entry in ``main``):

1. ``chain``: a ``@pipeline`` of 100 chained ``@step``s, each taking the previous step's small
   output (an int) and a constant param and returning the next int, run with ``run_pipeline``
   on the local executor against a fresh SQLite store (``SHIPYARD_HOME`` in a temporary
   folder). Every step records a child run with its tags and its param and stores its output
   in the content store. The steps do nothing, so the first run's wall time (empty cache) is
   the overhead; the identical rerun takes every step from the cache. Each repeat uses an
   experiment of its own, so its first run starts from an empty cache. It runs in a process of
   its own, after one untimed two-step warm-up pipeline (imports, store creation); the median
   of the repeats is the figure.
2. ``airflow``: the same chain as an Airflow DAG of 100 ``@task`` no-op tasks passing a small
   XCom value (and the same constant argument), in the Python of ``.bench/airflow-3.3.2``
   (installed on first use, with Airflow's constraints file when it can be fetched),
   ``AIRFLOW_HOME`` in a temporary folder, ``airflow db migrate`` once (not timed), then
   ``dag.test()`` timed inside that process (the median of up to three runs).
3. ``tuning``: ``sy.tune`` vs Optuna 5.0.0's RDB storage, both on a SQLite file, 200 trivial
   trials with ``RandomSampler`` (three alternating rounds, fresh files each), then two
   processes per side tuning one study at once (see ``benchmarks/_tuning.py``).

The last line of stdout is one JSON object (see ``benchmarks/_harness.py``); progress goes to
stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _harness as h

AIRFLOW = "apache-airflow==3.3.2"
AIRFLOW_VENV = "airflow-3.3.2"
AIRFLOW_CONSTRAINTS = ("https://raw.githubusercontent.com/apache/airflow/constraints-3.3.2/"
                       "constraints-3.11.txt")
# The constrained install is what Airflow documents; the plain one is the fallback when the
# constraints file cannot be fetched (pip then fails fast and the next variant is tried).
AIRFLOW_VARIANTS = [[AIRFLOW, "--constraint", AIRFLOW_CONSTRAINTS], [AIRFLOW]]
AIRFLOW_PROBE = "import airflow; assert airflow.__version__ == '3.3.2'"
AIRFLOW_MEASURED_BY_ISSUE_S = 38.5  # the issue author's dag.test() of 100 no-op tasks

OVERHEAD_GOAL_S = 1.0
CACHED_GOAL_S = 0.3
VS_AIRFLOW_GOAL_X = 20.0
TIMEOUT_S = 540.0  # any one side's process
BUDGET_S = 360.0  # start no further dag.test() past this: the whole run stays within 10 minutes
_STARTED = time.perf_counter()


@dataclass(frozen=True)
class Sizes:
    steps: int
    repeats: int  # timed (first run, cached rerun) pairs, each in a fresh experiment
    airflow_runs: int


FULL = Sizes(steps=100, repeats=5, airflow_runs=3)
QUICK = Sizes(steps=10, repeats=2, airflow_runs=0)


@dataclass
class Section:
    """One workload's share of the result line."""

    ours: dict[str, Any] = field(default_factory=dict)
    peer: dict[str, Any] | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    ratios: dict[str, float | None] = field(default_factory=dict)
    goals: dict[str, Any] = field(default_factory=dict)


def _last_json(text: str) -> dict[str, Any]:
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError("no JSON line in the output")
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def _run_side(command: Sequence[str | Path], env: dict[str, str], cwd: Path, log_name: str
              ) -> dict[str, Any]:
    """Run one side's process; its last JSON line on stdout is its answer."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=TIMEOUT_S, check=False)
    (cwd / log_name).write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{command[1]} exited with {done.returncode}; its stderr ends "
                           f"with:\n{done.stderr[-3000:]}")
    return _last_json(done.stdout)


# -- 1. chain: ours ----------------------------------------------------------------------------

_CHAIN_SCRIPT = '''
import json, sys, time
from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.sdk.fluent import client

steps, repeats = int(sys.argv[1]), int(sys.argv[2])

@step
def bump(x: int, by: int) -> int:
    return x + by

def chain(n):
    @pipeline(name=f"chain-{n}")
    def flow(start: int = 0) -> object:
        value = bump(start, by=1)
        for _ in range(n - 1):
            value = bump(value, by=1)
        return value
    return flow

run_pipeline(chain(2), experiment="warm-up")  # imports and the store's creation: not timed
flow = chain(steps)
figures = {"first_s": [], "cached_s": [], "first_hits": [], "cached_hits": [],
           "step_runs": [], "last_output": []}
for repeat in range(repeats):
    experiment = f"repeat-{repeat}"  # a fresh experiment: an empty cache
    for label in ("first", "cached"):
        start = time.perf_counter()
        result = run_pipeline(flow, experiment=experiment)
        figures[f"{label}_s"].append(time.perf_counter() - start)
        figures[f"{label}_hits"].append(sum(s.cache_hit for s in result.steps.values()))
        stored = client().search_runs(  # not timed: the child runs really are in the store
            None, f"attributes.parent_run_id = '{result.run_id}'", max_results=1000).items
        figures["step_runs"].append(sum(r.info.status == "FINISHED" for r in stored))
    last = list(result.steps)[-1]
    figures["last_output"].append(result.output(last))
print(json.dumps(figures))
'''


def chain_figures(sizes: Sizes, root: Path) -> Section:
    """Our 100-step chain: first run (empty cache) and the identical, fully cached rerun."""
    folder = root / "chain"
    folder.mkdir()
    h.log(f"chain: {sizes.steps} steps, {sizes.repeats} x (first run, cached rerun)")
    script = folder / "chain_flow.py"  # a real file: steps' code digests read their source
    script.write_text(_CHAIN_SCRIPT)
    got = _run_side([sys.executable, script, str(sizes.steps), str(sizes.repeats)],
                    h.peer_env({"SHIPYARD_HOME": str(folder / "home")}), folder, "chain.log")
    first, cached = h.summary(got["first_s"]), h.summary(got["cached_s"])
    n = sizes.steps
    h.log(f"chain: first run {first['median_s']:.3f} s, cached rerun {cached['median_s']:.3f} s")
    section = Section()
    section.ours = {
        "api": "run_pipeline(@pipeline of chained @steps, LocalExecutor) on SQLite; each step "
               "a child run with its tags and one param, its int output in the content store",
        "steps": n,
        "first_run": first | {"ms_per_step": round(first["median_s"] * 1000 / n, 3)},
        "cached_rerun": cached | {"ms_per_step": round(cached["median_s"] * 1000 / n, 3)},
    }
    section.checks = {
        "every_step_has_a_finished_child_run_in_the_store": all(
            c == n for c in got["step_runs"]),
        "first_runs_ran_every_step": all(hits == 0 for hits in got["first_hits"]),
        "reruns_took_every_step_from_cache": all(hits == n for hits in got["cached_hits"]),
        "chain_output_is_the_step_count": all(v == n for v in got["last_output"]),
    }
    section.goals = {
        "chain_overhead_s": h.goal_below(OVERHEAD_GOAL_S, first["median_s"], "s"),
        "chain_all_cached_s": h.goal_below(CACHED_GOAL_S, cached["median_s"], "s"),
    }
    return section


# -- 2. airflow: the peer ----------------------------------------------------------------------

_AIRFLOW_SCRIPT = '''
# In the DAGs folder: dag.test() finds the DAG through its bundle (it parses this file again,
# as a module: the timing below runs only as a script).
import json, os, sys, time
import pendulum
from airflow.sdk import dag, task

STEPS = int(os.environ["BENCH_STEPS"])

@task
def bump(x: int, by: int) -> int:
    return x + by

@dag(dag_id=f"chain_{STEPS}", schedule=None, start_date=pendulum.datetime(2026, 1, 1),
     catchup=False)
def chain():
    value = bump.override(task_id="bump_0")(0, by=1)
    for i in range(1, STEPS):
        value = bump.override(task_id=f"bump_{i}")(value, by=1)

the_dag = chain()

if __name__ == "__main__":
    start = time.perf_counter()
    run = the_dag.test()
    seconds = time.perf_counter() - start
    states = {}
    for ti in run.get_task_instances():
        states[str(ti.state)] = states.get(str(ti.state), 0) + 1
    last = None
    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        with create_session() as session:
            row = session.query(XComModel).filter_by(
                dag_id=the_dag.dag_id, run_id=run.run_id, task_id=f"bump_{STEPS - 1}").first()
            last = None if row is None else row.value
    except Exception as exc:  # only a check: report it, never fail the timing
        last = f"unreadable: {exc!r}"
    print(json.dumps({"seconds": seconds, "state": str(run.state), "task_states": states,
                      "last_xcom": last}, default=str))
'''


def _airflow_env(home: Path) -> dict[str, str]:
    return h.peer_env({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "SCARF_ANALYTICS": "false",  # Airflow's usage telemetry
    })


def airflow_figures(sizes: Sizes, root: Path, chain: Section, python: Path | None,
                    installed: list[str] | None) -> Section:
    """The same chain as an Airflow DAG run with ``dag.test()``; None figures without a peer."""
    n = sizes.steps
    ours = chain.ours.get("first_run", {}).get("median_s")
    section = Section()
    if python is None or sizes.airflow_runs == 0:
        section.goals = {"chain_vs_airflow_dag_test": h.goal_at_least(
            VS_AIRFLOW_GOAL_X, None)}
        return section
    home = root / "airflow"
    (home / "dags").mkdir(parents=True)
    env = _airflow_env(home) | {"BENCH_STEPS": str(n)}
    h.log("airflow: db migrate (not timed)")
    start = time.perf_counter()
    _migrate = subprocess.run([str(python), "-m", "airflow", "db", "migrate"],
                              capture_output=True, text=True, env=env, cwd=home,
                              timeout=TIMEOUT_S, check=False)
    migrate_s = time.perf_counter() - start
    (home / "migrate.log").write_text(_migrate.stdout + _migrate.stderr)
    if _migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{_migrate.stderr[-3000:]}")
    script = home / "dags" / "chain_dag.py"
    script.write_text(_AIRFLOW_SCRIPT)
    runs = []
    for attempt in range(sizes.airflow_runs):
        if runs and time.perf_counter() - _STARTED > BUDGET_S:
            h.log(f"airflow: budget spent; {len(runs)} dag.test() runs")
            break
        h.log(f"airflow: dag.test() of {n} chained @task no-ops ({attempt + 1} of "
              f"{sizes.airflow_runs})")
        runs.append(_run_side([python, script], env, home,
                              f"dag-test-{attempt}.log"))
        h.log(f"airflow: dag.test() took {runs[-1]['seconds']:.1f} s")
    timed = h.summary([r["seconds"] for r in runs])
    version = subprocess.run([str(python), "-c", "import airflow; print(airflow.__version__)"],
                             capture_output=True, text=True, env=env, check=False, timeout=120)
    section.peer = {
        "api": "DAG of chained @task no-ops passing an int XCom (and a constant), dag.test() "
               "(SQLite metadata database; time inside the process around dag.test() only)",
        "version": version.stdout.strip(), "installed": installed, "steps": n,
        "db_migrate_s_not_counted": round(migrate_s, 2), "dag_test": timed,
        "issue_author_dag_test_s": AIRFLOW_MEASURED_BY_ISSUE_S,
        "task_states": runs[-1]["task_states"],
    }
    section.checks = {
        "airflow_dag_runs_succeeded": all(r["state"].endswith("success") for r in runs),
        "airflow_every_task_succeeded": all(r["task_states"] == {"success": n} for r in runs),
        "airflow_chain_output_is_the_step_count": all(
            str(r["last_xcom"]) == str(n) for r in runs),
    }
    ratio = h.ratio(timed["median_s"], ours)
    section.ratios = {f"chain_{n}_steps_vs_airflow_dag_test": ratio}
    section.goals = {"chain_vs_airflow_dag_test": h.goal_at_least(
        VS_AIRFLOW_GOAL_X, ratio)}
    return section


# -- the result line ---------------------------------------------------------------------------


def tuning_figures(quick: bool, root: Path) -> Section:
    """Section 3: ``sy.tune`` against Optuna's RDB storage (``benchmarks/_tuning.py``)."""
    import _tuning

    found = _tuning.tuning_figures(quick, root / "tuning")
    return Section(ours=found["ours"], peer=found["peer"], ratios=found["ratios"],
                   goals=found["goals"])


def emit(machine: dict[str, Any], sections: dict[str, Section], *, sizes: Sizes, quick: bool,
         started: float, error: str | None) -> None:
    ours: dict[str, Any] = {name: s.ours for name, s in sections.items() if s.ours}
    peers = {name: s.peer for name, s in sections.items() if s.peer is not None}
    checks = {k: v for s in sections.values() for k, v in s.checks.items()}
    ratios = {k: v for s in sections.values() for k, v in s.ratios.items()}
    goals = {k: v for s in sections.values() for k, v in s.goals.items()}
    h.record_run(ours, checks, started=started, sizes=sizes.__dict__, quick=quick, error=error)
    h.log(f"done in {ours['benchmark_wall_s']} s")
    h.emit("pipelines", machine, ours, None if quick else peers, ratios, goals)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 steps and no peer (the smoke form `make test` runs)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = h.machine_info()
    sections: dict[str, Section] = {}
    error = None
    try:
        python, installed = None, None
        if not args.quick:
            python, installed = h.ensure_peer_venv(AIRFLOW_VENV, AIRFLOW_VARIANTS, AIRFLOW_PROBE,
                                                   timeout=1800)
        with tempfile.TemporaryDirectory(prefix="shipyard-bench-pipelines-") as tmp:
            root = Path(tmp)
            sections["chain"] = chain_figures(sizes, root)
            sections["airflow"] = airflow_figures(sizes, root, sections["chain"], python,
                                                  installed)
            sections["tuning"] = tuning_figures(args.quick, root)
    except Exception:
        error = traceback.format_exc()
        print(error, file=sys.stderr)
    emit(machine, sections, sizes=sizes, quick=args.quick, started=started, error=error)
    return 1 if error is not None else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
