"""What every benchmark shares: peer virtualenvs, worker processes, timing and the result line.

Standard library only: worker scripts import this module from a peer's virtualenv too.

A benchmark (``benchmarks/<area>.py``) starts one worker process per side — ours with
``.venv``'s Python, the peer with the Python of its own virtualenv under ``.bench/`` — and
asks both for the same workload in turn. A worker answers one JSON line per request on a pipe
of its own, so whatever a library prints cannot garble the protocol. Progress goes to stderr;
the last line on stdout is the one JSON object described in ``docs`` (see :func:`emit`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import selectors
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
_STARTED = time.perf_counter()


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# -- Machine ---------------------------------------------------------------------------------


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to judge absolute numbers (ratios matter more)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "sqlite_version": sqlite3.sqlite_version,
        "load_average_at_start": None if load is None else [round(x, 2) for x in load],
    }


# -- Timing ----------------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes, by ``time.perf_counter``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """Median (the figure ratios use), best and every sample, in seconds."""
    return {
        "median_s": round(statistics.median(samples), 6),
        "best_s": round(min(samples), 6),
        "samples_s": [round(s, 6) for s in samples],
    }


def ratio(peer_cost: float | None, our_cost: float | None) -> float | None:
    """peer / ours: above 1 means Shipyard is faster."""
    if peer_cost is None or our_cost is None or our_cost <= 0:
        return None
    return round(peer_cost / our_cost, 2)


def goal_at_least(target: float, value: float | None, unit: str = "x") -> dict[str, Any]:
    met = None if value is None else value >= target
    return {"target": f">= {target:g}{unit}", "value": value, "met": met}


def goal_below(target: float, value: float | None, unit: str) -> dict[str, Any]:
    met = None if value is None else value < target
    return {"target": f"< {target:g} {unit}", "value": value, "met": met}


def emit(benchmark: str, machine: Mapping[str, Any], ours: Mapping[str, Any],
         peer: Mapping[str, Any] | None, ratios: Mapping[str, Any],
         goals: Mapping[str, Any]) -> None:
    """Print the result: the last line of stdout, exactly one JSON object."""
    result = {"benchmark": benchmark, "machine": dict(machine), "ours": dict(ours),
              "peer": None if peer is None else dict(peer), "ratios": dict(ratios),
              "goals": dict(goals)}
    sys.stdout.write(json.dumps(result, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


# -- Peer virtualenvs ------------------------------------------------------------------------


class PeerInstallError(RuntimeError):
    pass


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _pip(python: Path, args: Sequence[str], log_file: IO[str], timeout: float) -> bool:
    done = subprocess.run([str(python), "-m", "pip", *args], stdout=log_file,
                          stderr=subprocess.STDOUT, timeout=timeout, check=False)
    return done.returncode == 0


def ensure_peer_venv(name: str, variants: Sequence[Sequence[str]], probe: str,
                     timeout: float = 900.0) -> tuple[Path, list[str]]:
    """The Python of the peer virtualenv ``.bench/<name>``, created on first use.

    ``variants`` are requirement lists tried in order (the first is the package users install;
    later ones are fallbacks); ``probe`` is Python code that must run cleanly in the finished
    environment. Returns the interpreter and the requirement list that is installed. Never
    touches ``.venv``.
    """
    venv = BENCH_DIR / name
    python = _venv_python(venv)
    marker = venv / "shipyard-bench.json"
    if python.exists() and marker.exists() and _probe(python, probe):
        return python, list(json.loads(marker.read_text())["requirements"])
    BENCH_DIR.mkdir(exist_ok=True)
    log_path = BENCH_DIR / f"{name}.install.log"
    log(f"installing peer into {venv.relative_to(ROOT)} (log: {log_path.relative_to(ROOT)})")
    with log_path.open("w") as log_file:
        for requirements in variants:
            if venv.exists():
                shutil.rmtree(venv)
            with tempfile.TemporaryDirectory() as scratch:
                # Is it on the index at all? (fast, and a clearer message than a failed install)
                if not _pip(Path(sys.executable), ["download", "--no-deps", "-q", "-d", scratch,
                                                   requirements[0]], log_file, timeout):
                    log(f"{requirements[0]} is not downloadable; trying the next variant")
                    continue
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                           stdout=log_file, stderr=subprocess.STDOUT)
            _pip(python, ["install", "-q", "--upgrade", "pip"], log_file, timeout)
            if _pip(python, ["install", *requirements], log_file, timeout) and _probe(
                python, probe
            ):
                marker.write_text(json.dumps({"requirements": list(requirements)}))
                log(f"peer installed: {' '.join(requirements)}")
                return python, list(requirements)
            log(f"installing {' '.join(requirements)} failed; see {log_path}")
    raise PeerInstallError(f"could not install any of {list(variants)}; see {log_path}")


def _probe(python: Path, code: str) -> bool:
    done = subprocess.run([str(python), "-c", code], capture_output=True, check=False,
                          env=peer_env(), timeout=120)
    return done.returncode == 0


def peer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a worker: no settings of ours or of MLflow leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHIPYARD_", "MLFLOW_", "PYTHON"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    env.update(extra or {})
    return env


# -- Import time -----------------------------------------------------------------------------

_IMPORT_PROBE = (
    "import time\n"
    "t = time.perf_counter()\n"
    "{statement}\n"
    "print(time.perf_counter() - t)\n"
)


def import_seconds(python: Path, statement: str, env: Mapping[str, str]) -> dict[str, float]:
    """Time ``statement`` in a fresh interpreter: the statement alone and the whole process."""
    start = time.perf_counter()
    done = subprocess.run([str(python), "-c", _IMPORT_PROBE.format(statement=statement)],
                          capture_output=True, text=True, env=dict(env), check=True,
                          timeout=120)
    process = time.perf_counter() - start
    return {"statement_s": float(done.stdout.strip().splitlines()[-1]), "process_s": process}


# -- Workers ---------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


class Worker:
    """A benchmark worker process answering one JSON request at a time."""

    def __init__(self, name: str, python: Path, script: Path, *, cwd: Path,
                 env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("w")
        read_fd, write_fd = os.pipe()
        self._proc = subprocess.Popen(
            [str(python), str(script), str(write_fd)], cwd=cwd, env=dict(env),
            stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT, text=True,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        self._answers = os.fdopen(read_fd, "r")

    def call(self, op: str, timeout: float = 300.0, **args: Any) -> Any:
        """Run ``op`` in the worker and return its result (raises WorkerError on failure)."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(self._failure(f"{op}: the worker has exited")) from None
        with selectors.DefaultSelector() as selector:
            selector.register(self._answers, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.close()
                raise WorkerError(self._failure(f"{op}: no answer within {timeout:.0f} s"))
        line = self._answers.readline()
        if not line:
            raise WorkerError(self._failure(f"{op}: the worker died"))
        answer = json.loads(line)
        if not answer["ok"]:
            raise WorkerError(f"{self.name} worker, {op}:\n{answer['error']}")
        return answer["result"]

    def _failure(self, what: str) -> str:
        self._log.flush()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        return f"{self.name} worker, {what}; its log ends with:\n{tail}"

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._answers.close()
        self._log.close()


def serve(handlers: Mapping[str, Callable[..., Any]]) -> None:
    """The worker side of :class:`Worker`: answer requests from stdin until it closes.

    The answer pipe is the file descriptor named by ``argv[1]``; stdout is sent to stderr so
    that nothing a library prints can corrupt an answer.
    """
    answers = os.fdopen(int(sys.argv[1]), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = {"ok": True, "result": handlers[request["op"]](**request["args"])}
        except Exception:
            result = {"ok": False, "error": traceback.format_exc()}
        answers.write(json.dumps(result, default=str) + "\n")
        answers.flush()


class LocalWorker:
    """A worker's handlers called in this process, with :class:`Worker`'s interface.

    For a smoke run whose client library is installed here too (no peer process to start).
    """

    def __init__(self, name: str, script: Path) -> None:
        import importlib.util

        self.name = name
        spec = importlib.util.spec_from_file_location(f"_bench_worker_{script.stem}", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self._handlers: Mapping[str, Callable[..., Any]] = module.HANDLERS

    def call(self, op: str, timeout: float = 300.0, **args: Any) -> Any:
        """Run ``op`` here and return its result (raises WorkerError on failure)."""
        del timeout  # kept for the same signature as Worker.call
        try:
            return self._handlers[op](**args)
        except Exception:
            raise WorkerError(f"{self.name} (in-process), {op}:\n{traceback.format_exc()}") \
                from None

    def close(self) -> None:
        pass


# -- Servers ---------------------------------------------------------------------------------
# These need psutil, so they are for the benchmark process (``.venv``), never for a worker.

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET on ``url`` (never through a proxy), or None if none came."""
    import http.client
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, http.client.HTTPException):
        return None


class ServerError(RuntimeError):
    pass


class ServerProcess:
    """A server under benchmark, started as users start it, in a process group of its own.

    :meth:`start` times the spawn to the first 200 from its health URL; :meth:`rss_mb` and
    :meth:`cpu_seconds` measure its whole process tree (it may fork workers); :meth:`stop`
    ends that whole tree, whatever state it is in. Use it as a context manager so that a
    server never outlives the benchmark.
    """

    def __init__(self, name: str, command: Sequence[str], *, health_url: str,
                 env: Mapping[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.command = [str(part) for part in command]
        self.health_url = health_url
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._seen: dict[int, Any] = {}  # every process of the tree seen so far, by pid
        self._terminated = False

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def start(self, timeout: float = 180.0, interval: float = 0.01) -> float:
        """Spawn the server; return the seconds from spawn to its first healthy answer."""
        with self.log_path.open("wb") as log_file:
            start = time.perf_counter()
            self._proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                          stdin=subprocess.DEVNULL, stdout=log_file,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = start + timeout
        while True:
            if http_status(self.health_url, timeout=2.0) == 200:
                return time.perf_counter() - start
            if self._proc.poll() is not None:
                raise ServerError(self._failure(f"exited with {self._proc.returncode}"))
            if time.perf_counter() > deadline:
                raise ServerError(self._failure(f"no 200 from {self.health_url} in {timeout} s"))
            time.sleep(interval)

    def _failure(self, what: str) -> str:
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        return f"{self.name} server {what}: {' '.join(self.command)}\nits log ends with:\n{tail}"

    def tree(self) -> list[Any]:
        """The server's process and all its descendants now (psutil.Process objects)."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            processes = []
        self._seen.update((p.pid, p) for p in processes)
        return processes

    def rss_mb(self) -> float:
        """Resident memory of the whole tree, summed (shared pages count in each process)."""
        return round(_sum_over(self.tree(), lambda p: p.memory_info().rss) / 2**20, 1)

    def pss_mb(self) -> float | None:
        """Proportional set size of the tree (shared pages split between processes), if the
        platform reports it."""
        try:
            total = _sum_over(self.tree(), lambda p: p.memory_full_info().pss)
        except AttributeError:
            return None
        return round(total / 2**20, 1)

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by the processes of the tree alive now."""
        return _sum_over(self.tree(), lambda p: sum(p.cpu_times()[:2]))

    def settle(self, quiet_cores: float = 0.05, window: float = 1.0,
               timeout: float = 90.0) -> float:
        """Wait until the tree uses under ``quiet_cores`` CPUs over a whole ``window`` (a
        server may go on starting helpers after its first answer); return the seconds
        waited. Gives up quietly after ``timeout``."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            before = self.cpu_seconds()
            time.sleep(window)
            if (self.cpu_seconds() - before) / window < quiet_cores:
                break
        return time.perf_counter() - start

    def terminate(self) -> None:
        """Send SIGTERM to the process group and to every process of the tree seen, without
        waiting (to stop several servers at once, call this on each before :meth:`stop`)."""
        import psutil

        if self._proc is None or self._terminated:
            return
        if self._proc.poll() is None:
            self.tree()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGTERM)
        for process in self._seen.values():  # also any that left the group
            if _alive(process):
                with contextlib.suppress(psutil.Error):
                    process.terminate()
        self._terminated = True

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the tree, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
        import psutil

        if self._proc is None:
            return
        self.terminate()
        _, survivors = psutil.wait_procs([p for p in self._seen.values() if _alive(p)],
                                         timeout=grace)
        if survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            for process in survivors:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(survivors, timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._seen.clear()
        self._proc = None


def _alive(process: Any) -> bool:
    import psutil

    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _sum_over(processes: Sequence[Any], figure: Callable[[Any], float]) -> float:
    """``figure`` summed over the processes that still exist (one may exit while we look)."""
    import psutil

    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += figure(process)
    return total


# -- A run's outline, shared by every benchmark -------------------------------------------------


def run_steps(steps: Sequence[Callable[[], object]], workers: Sequence[Worker | None]
              ) -> str | None:
    """Run a benchmark's steps in order and close its workers whatever happens; the traceback
    of the first failure (also printed to stderr), or None."""
    try:
        for step in steps:
            step()
    except Exception:
        error = traceback.format_exc()
        print(error, file=sys.stderr)
        return error
    finally:
        for worker in workers:
            if worker is not None:
                worker.close()
    return None


def record_run(ours: dict[str, Any], checks: Mapping[str, Any], *, started: float,
               sizes: Mapping[str, Any], quick: bool, error: str | None) -> None:
    """What every benchmark reports about its own run beside its figures."""
    ours["checks"] = dict(checks)
    ours["benchmark_wall_s"] = round(time.perf_counter() - started, 1)
    ours["sizes"] = dict(sizes) | {"quick": quick}
    if error is not None:
        ours["error"] = error.strip().splitlines()[-1]
