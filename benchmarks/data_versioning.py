"""Data versioning: Shipyard vs DVC 3.67.1, side by side in one run.

    .venv/bin/python benchmarks/data_versioning.py           # full run (make bench-data)
    .venv/bin/python benchmarks/data_versioning.py --quick   # small sizes, no peer (make test)

Workloads, on the same files in one temporary folder (both tools' stores on the same disk):

1. add one file of random bytes (1 GiB): ``DatasetService.add`` vs DVC's ``Repo.add``, each in
   a worker process of its own (ours with this interpreter, DVC with the Python of
   ``.bench/dvc-3.67.1``, installed on first use), into an empty store every trial;
2. add a folder of small random files (20,000 x 4 KiB in 20 subfolders), the same way;
3. re-check the unchanged folder, CLI against CLI: ``shipyard data status FOLDER --name NAME``
   vs ``dvc status``, the wall time of the whole command, after one untimed run of each;
4. a second version in which one file changed: how many files the store gains (ours: under the
   artifact store's ``blobs/``; DVC: under ``.dvc/cache``, for information).

The two sides alternate who goes first from one trial to the next; nothing is dropped from the
page cache, but pending writes are flushed (``sync``, untimed) before each timed add. Every
figure is the median of its trials. The last line of stdout is one JSON object (see
``benchmarks/_harness.py``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _harness as h

PEER = "dvc==3.67.1"
PEER_VENV = "dvc-3.67.1"
PEER_PROBE = ("import dvc.repo; from importlib.metadata import version; "
              "assert version('dvc') == '3.67.1'")
WORKERS = Path(__file__).resolve().parent / "workers"
BUDGET_S = 540.0  # start no further trial past this: the whole run stays within 10 minutes
MiB = 1 << 20
FILE_NAME = "big.bin"
FOLDER = "data/files"  # relative to the work folder (the DVC repository's root)


@dataclass(frozen=True)
class Sizes:
    file_bytes: int
    folder_files: int
    folder_subfolders: int
    file_size: int  # bytes per file of the folder
    add_trials: int
    status_repeats: int


FULL = Sizes(file_bytes=1024 * MiB, folder_files=20_000, folder_subfolders=20, file_size=4096,
             add_trials=5, status_repeats=7)
QUICK = Sizes(file_bytes=8 * MiB, folder_files=500, folder_subfolders=5, file_size=4096,
              add_trials=1, status_repeats=1)


# -- Files -----------------------------------------------------------------------------------


def write_random_file(path: Path, size: int, chunk: int = 64 * MiB) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            step = min(chunk, left)
            out.write(os.urandom(step))
            left -= step


def write_random_folder(root: Path, files: int, subfolders: int, size: int) -> None:
    """``files`` distinct random files of ``size`` bytes, spread over ``subfolders``."""
    data = os.urandom(files * size)
    per_folder = -(-files // subfolders)
    for i in range(files):
        folder = root / f"d{i // per_folder:02d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(data[i * size:(i + 1) * size])


def settle() -> None:
    """Write out pending dirty pages (untimed) so a trial does not pay for the writes of the
    set-up or of the trial before it. Nothing is dropped from the page cache."""
    if hasattr(os, "sync"):
        os.sync()


def count_files(folder: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(folder))


def filesystem_of(path: Path) -> str | None:
    """The file system type of the mount holding ``path`` (from /proc/mounts), if known."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return None
    target = str(path.resolve())
    best = max((m for m in mounts if target == m[0] or target.startswith(m[0].rstrip("/") + "/")),
               key=lambda m: len(m[0]), default=None)
    return None if best is None else best[1]


# -- The run ---------------------------------------------------------------------------------


class Bench:
    """One run: the work folder (the data, and the DVC repository around it), both workers."""

    def __init__(self, sizes: Sizes, root: Path, ours: h.Worker, peer: h.Worker | None,
                 peer_python: Path | None, started: float) -> None:
        self.sizes = sizes
        self.root = root
        self.work = root / "work"
        self.ours_worker = ours
        self.peer_worker = peer
        self.peer_python = peer_python
        self.started = started
        self.ours: dict[str, Any] = {}
        self.peer: dict[str, Any] = {}
        self.checks: dict[str, Any] = {}
        self._ours_trial = 0
        self._peer_trial = 0
        self.ours_home: Path | None = None  # the store of the last ours trial (kept)
        self.ours_cache: Path | None = None
        self.peer_site: Path | None = None  # DVC's state folder of the last peer trial (kept)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    # -- one trial per side ------------------------------------------------------------------

    def ours_add(self, target: str, name: str, timeout: float) -> dict[str, Any]:
        """``svc.add`` into a new, empty store with a cold digest cache."""
        self._drop_ours()
        self._ours_trial += 1
        self.ours_home = self.root / "ours" / f"home-{self._ours_trial}"
        self.ours_cache = self.root / "ours" / f"cache-{self._ours_trial}"
        settle()
        result: dict[str, Any] = self.ours_worker.call(
            "add", timeout=timeout, home=str(self.ours_home), cache_dir=str(self.ours_cache),
            path=str(self.work / target), name=name)
        result["store_files"] = count_files(self.ours_home / "artifacts" / "blobs")
        return result

    def peer_add(self, target: str, timeout: float) -> dict[str, Any]:
        """``Repo.add`` in a fresh ``git init`` + ``dvc init`` repository with a cold state."""
        assert self.peer_worker is not None
        self._reset_repo()
        self._peer_trial += 1
        self.peer_site = self.root / "dvc-site" / f"trial-{self._peer_trial}"
        self.peer_worker.call("init", root=str(self.work))
        settle()
        result: dict[str, Any] = self.peer_worker.call(
            "add", timeout=timeout, root=str(self.work), target=target,
            site_cache_dir=str(self.peer_site))
        result["store_files"] = count_files(self.work / ".dvc" / "cache")
        return result

    def _drop_ours(self) -> None:
        for folder in (self.ours_home, self.ours_cache):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self.ours_home = self.ours_cache = None

    def _reset_repo(self) -> None:
        """Remove every trace of the previous DVC repository around the data."""
        for name in (".git", ".dvc"):
            shutil.rmtree(self.work / name, ignore_errors=True)
        (self.work / ".dvcignore").unlink(missing_ok=True)
        for folder in (self.work, self.work / Path(FOLDER).parent):
            for leftover in (*folder.glob("*.dvc"), folder / ".gitignore"):
                leftover.unlink(missing_ok=True)
        if self.peer_site is not None:
            shutil.rmtree(self.peer_site, ignore_errors=True)
            self.peer_site = None

    # -- workloads 1 and 2: add --------------------------------------------------------------

    def warm_up(self) -> None:
        """One untimed add of a tiny file on each side: both workers have imported what an
        add needs before the first timed trial."""
        h.log("warm-up: one small add on each side (not timed)")
        scratch = self.work / "warm-up.txt"
        scratch.write_text("warm-up\n")
        self.ours_add("warm-up.txt", "warm-up", timeout=120)
        self._drop_ours()
        if self.peer_worker is not None:
            self.peer_add("warm-up.txt", timeout=300)
            self._reset_repo()
        scratch.unlink()

    def add_trials(self, key: str, target: str, name: str, timeout: float) -> None:
        """``add_trials`` trials per side, alternating who goes first; each trial starts from
        empty stores. The stores of the last trial are kept for what follows."""
        ours: list[dict[str, Any]] = []
        peer: list[dict[str, Any]] = []
        last_trial_s = 0.0
        for trial in range(self.sizes.add_trials):
            if trial and self.elapsed() + 1.5 * last_trial_s + 30 > BUDGET_S:
                h.log(f"  stopping after {trial} trial(s): the time budget is spent")
                break
            trial_started = time.perf_counter()
            sides: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("ours", lambda: self.ours_add(target, name, timeout))]
            if self.peer_worker is not None:
                sides.append(("dvc", lambda: self.peer_add(target, timeout)))
            if trial % 2 == 0:
                sides.reverse()  # the peer first on even trials (when it runs)
            for label, run in sides:
                result = run()
                (ours if label == "ours" else peer).append(result)
                h.log(f"  trial {trial + 1}: {label:<4} {result['seconds']:8.3f} s")
            last_trial_s = time.perf_counter() - trial_started
        self.ours[key] = _add_summary(ours, "DatasetService.add(path, name)")
        if peer:
            self.peer[key] = _add_summary(peer, "Repo(root).add(target) (dvc add)")
            self.peer[key]["cache_types"] = peer[0]["cache_types"]
        self.checks[f"{key}_ours_new_version"] = all(r["created"] for r in ours)

    def add_file(self) -> None:
        s = self.sizes
        h.log(f"writing one file of {s.file_bytes // MiB:,} MiB of random bytes")
        write_random_file(self.work / FILE_NAME, s.file_bytes)
        h.log(f"workload 1: add one {s.file_bytes // MiB:,} MiB file x {s.add_trials} trials")
        self.add_trials(self._file_key(), FILE_NAME, "big-file", timeout=300)
        self._drop_ours()
        if self.peer_worker is not None:
            self._reset_repo()
        (self.work / FILE_NAME).unlink()

    def add_folder(self) -> None:
        s = self.sizes
        h.log(f"writing {s.folder_files:,} files of {s.file_size // 1024} KiB in "
              f"{s.folder_subfolders} subfolders")
        write_random_folder(self.work / FOLDER, s.folder_files, s.folder_subfolders,
                            s.file_size)
        h.log(f"workload 2: add the folder x {s.add_trials} trials")
        self.add_trials(self._folder_key(), FOLDER, "files", timeout=420)
        self.checks["add_folder_ours_file_count"] = (
            self.ours[self._folder_key()]["files"] == s.folder_files)

    def _file_key(self) -> str:
        return f"add_file_{self.sizes.file_bytes // MiB}MiB"

    def _folder_key(self) -> str:
        s = self.sizes
        return f"add_folder_{s.folder_files}x{s.file_size // 1024}KiB"

    # -- workload 3: status, CLI against CLI -------------------------------------------------

    def _ours_status_command(self) -> tuple[list[str], dict[str, str]]:
        assert self.ours_home is not None and self.ours_cache is not None
        cli = Path(sys.executable).parent / "shipyard"
        command = [str(cli)] if cli.exists() else [sys.executable, "-m", "shipyard"]
        env = h.peer_env({"SHIPYARD_HOME": str(self.ours_home),
                          "SHIPYARD_CACHE_DIR": str(self.ours_cache)})
        return [*command, "data", "status", str(self.work / FOLDER), "--name", "files"], env

    def _peer_status_command(self) -> tuple[list[str], dict[str, str]]:
        assert self.peer_python is not None and self.peer_site is not None
        return [str(self.peer_python.parent / "dvc"), "status"], self.peer_env(self.peer_site)

    def peer_env(self, site: Path) -> dict[str, str]:
        return peer_env(self.root, {"DVC_SITE_CACHE_DIR": str(site)})

    def status(self) -> None:
        n = self.sizes.status_repeats
        h.log(f"workload 3: status of the unchanged folder, CLI vs CLI, 1 warm-up + {n} runs")
        commands = {"ours": self._ours_status_command()}
        if self.peer_worker is not None:
            commands["dvc"] = self._peer_status_command()
        samples: dict[str, list[float]] = {label: [] for label in commands}
        outputs: dict[str, str] = {}
        for label, (command, env) in commands.items():  # warm-up, not counted
            outputs[label] = _run_cli(command, env, self.work)[1]
        for repeat in range(n):
            order = list(commands)
            if repeat % 2:
                order.reverse()
            for label in order:
                command, env = commands[label]
                seconds, out = _run_cli(command, env, self.work)
                samples[label].append(seconds)
                outputs[label] = out
            h.log("  " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in samples.items()))
        self.ours["status_cli"] = {
            "command": "shipyard data status FOLDER --name NAME", **h.summary(samples["ours"]),
            "output": outputs["ours"].strip()}
        self.checks["status_ours_up_to_date"] = "up to date" in outputs["ours"]
        command, env = commands["ours"]
        reported = json.loads(_run_cli([*command, "--json"], env, self.work)[1])
        self.ours["status_cli"]["files_hashed_after_warm_up"] = reported["files_hashed"]
        if "dvc" in samples:
            self.peer["status_cli"] = {"command": "dvc status", **h.summary(samples["dvc"]),
                                       "output": outputs["dvc"].strip()}
            self.checks["status_dvc_up_to_date"] = "up to date" in outputs["dvc"]

    # -- workload 4: a second version with one file changed ----------------------------------

    def second_version(self) -> None:
        h.log("workload 4: change one file of the folder, add a second version")
        assert self.ours_home is not None
        changed = sorted((self.work / FOLDER).rglob("*.bin"))[self.sizes.folder_files // 2]
        changed.write_bytes(os.urandom(self.sizes.file_size))
        blobs = self.ours_home / "artifacts" / "blobs"
        before = count_files(blobs)
        settle()
        result = self.ours_worker.call(
            "add", timeout=300, home=str(self.ours_home), cache_dir=str(self.ours_cache),
            path=str(self.work / FOLDER), name="files")
        after = count_files(blobs)
        self.ours["second_version"] = {
            "changed_file": str(changed.relative_to(self.work)), "ref": result["ref"],
            "seconds": round(result["seconds"], 6), "files_hashed": result["files_hashed"],
            "blobs_stored": result["blobs_stored"], "bytes_stored": result["bytes_stored"],
            "store_files_before": before, "store_files_after": after,
            "store_files_added": after - before}
        h.log(f"  ours: +{after - before} file(s) under blobs/, {result['seconds']:.3f} s, "
              f"{result['files_hashed']} file(s) hashed")
        if self.peer_worker is not None:
            assert self.peer_site is not None
            cache = self.work / ".dvc" / "cache"
            before = count_files(cache)
            settle()
            peer = self.peer_worker.call("add", timeout=420, root=str(self.work), target=FOLDER,
                                         site_cache_dir=str(self.peer_site))
            after = count_files(cache)
            self.peer["second_version"] = {
                "seconds": round(peer["seconds"], 6), "store_files_before": before,
                "store_files_after": after, "store_files_added": after - before}
            h.log(f"  dvc:  +{after - before} file(s) under .dvc/cache, "
                  f"{peer['seconds']:.3f} s")

    # -- result ------------------------------------------------------------------------------

    def ratios(self) -> dict[str, float | None]:
        if self.peer_worker is None:
            return {}
        keys = [self._file_key(), self._folder_key(), "status_cli"]
        out = {key: h.ratio(_median(self.peer, key), _median(self.ours, key)) for key in keys}
        second = self.peer.get("second_version"), self.ours.get("second_version")
        if second[0] and second[1]:
            out["add_second_version"] = h.ratio(second[0]["seconds"], second[1]["seconds"])
        return out

    def goals(self, ratios: dict[str, float | None]) -> dict[str, Any]:
        added = self.ours.get("second_version", {}).get("store_files_added")
        return {
            "add_file_vs_dvc": h.goal_at_least(5, ratios.get(self._file_key())),
            "add_folder_vs_dvc": h.goal_at_least(5, ratios.get(self._folder_key())),
            "status_cli_vs_dvc": h.goal_at_least(10, ratios.get("status_cli")),
            "second_version_new_blobs": {"target": "== 2 (the changed file and the manifest)",
                                         "value": added,
                                         "met": None if added is None else added == 2},
        }


def _add_summary(results: Sequence[dict[str, Any]], api: str) -> dict[str, Any]:
    first = results[0]
    out = {"api": api, **h.summary([r["seconds"] for r in results]),
           "store_files": first["store_files"]}
    for key in ("files", "files_hashed", "blobs_stored", "bytes_stored"):
        if key in first:
            out[key] = first[key]
    return out


def _median(side: dict[str, Any], key: str) -> float | None:
    node = side.get(key)
    return node.get("median_s") if isinstance(node, dict) else None


def _run_cli(command: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of one command from process start to exit, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def peer_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """DVC's environment: no analytics (nothing here reaches a network), configuration
    folders of its own so no user or system setting changes what it does, and its site cache
    (state database) under ``root``, never in ``/var/tmp/dvc``."""
    config = root / "dvc-config"
    for part in ("global", "system"):
        (config / part).mkdir(parents=True, exist_ok=True)
    return h.peer_env({"DVC_NO_ANALYTICS": "1", "DVC_GLOBAL_CONFIG_DIR": str(config / "global"),
                       "DVC_SYSTEM_CONFIG_DIR": str(config / "system"),
                       "DVC_SITE_CACHE_DIR": str(root / "dvc-site" / "other"),
                       **(extra or {})})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and no peer (the smoke form `make test` runs)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = h.machine_info()
    peer_python, peer_requirements = None, None
    if not args.quick:
        peer_python, peer_requirements = h.ensure_peer_venv(PEER_VENV, [[PEER]], PEER_PROBE)
    error = None
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-data-") as tmp:
        root = Path(tmp)
        machine["temp_filesystem"] = filesystem_of(root)
        (root / "work").mkdir()
        ours = h.Worker("shipyard", Path(sys.executable), WORKERS / "data_shipyard.py",
                        cwd=root, log_path=root / "ours.log", env=h.peer_env())
        peer = None
        if peer_python is not None:
            peer = h.Worker("dvc", peer_python, WORKERS / "data_dvc.py", cwd=root,
                            log_path=root / "peer.log", env=peer_env(root))
        bench = Bench(sizes, root, ours, peer, peer_python, started)

        def versions() -> None:
            bench.ours["versions"] = ours.call("info")
            if peer is not None:
                bench.peer["versions"] = {**peer.call("info", timeout=300),
                                          "installed": peer_requirements}

        error = h.run_steps([versions, bench.warm_up, bench.add_file, bench.add_folder,
                             bench.status, bench.second_version], [ours, peer])
    h.record_run(bench.ours, bench.checks, started=started, sizes=sizes.__dict__,
                 quick=args.quick, error=error)
    ratios = bench.ratios() if error is None else {}
    goals = bench.goals(ratios) if error is None else {}
    h.log(f"done in {bench.ours['benchmark_wall_s']} s")
    h.emit("data_versioning", machine, bench.ours, None if args.quick else bench.peer, ratios,
           goals)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
