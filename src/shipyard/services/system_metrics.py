"""CPU, memory, disk and GPU use, sampled in the background of a run.

Metric keys mirror MLflow's (``system/cpu_utilization_percentage``,
``system/gpu_0_memory_usage_megabytes``, ...) because users already know them. Megabytes are
10**6 bytes, as in MLflow. GPUs are read through NVML (the ``pynvml`` module of the
``nvidia-ml-py`` package) when it is installed and a driver answers, else through the
``nvidia-smi`` command, else there are no GPU metrics. Nothing here raises for a machine that
lacks a GPU, a driver or a permission: a metric that cannot be read is left out.

``psutil`` and ``pynvml`` are imported inside the functions that use them, so importing this
module stays cheap.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from shipyard.errors import InvalidInputError, InvalidStateError

__all__ = [
    "NVIDIA_SMI_QUERY",
    "NVIDIA_SMI_TIMEOUT",
    "GpuSample",
    "SystemMetricsSampler",
    "parse_nvidia_smi_csv",
    "read_gpus",
    "read_gpus_nvidia_smi",
    "read_gpus_nvml",
    "sample_system",
]

logger = logging.getLogger("shipyard.system_metrics")

NVIDIA_SMI_QUERY = (
    "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"
)
NVIDIA_SMI_TIMEOUT = 5.0
"""Seconds ``nvidia-smi`` may take to answer before this sample goes without GPU metrics."""

_MIB = 1024 * 1024
_MB = 1_000_000
_CPU_PRIME_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One reading of one GPU. A field is None where the device or driver does not report it.

    Memory is in MiB (what ``nvidia-smi`` prints); power in watts; temperature in Celsius.
    """

    index: int
    name: str
    utilization_percent: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    temperature_celsius: float | None
    power_watts: float | None


def _number(field: str) -> float | None:
    """A CSV field as a float; None for ``[N/A]``, ``[Not Supported]``, ``N/A`` or junk."""
    text = field.strip()
    if not text or text.startswith("["):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_nvidia_smi_csv(text: str) -> list[GpuSample]:
    """Parse ``nvidia-smi {NVIDIA_SMI_QUERY} --format=csv,noheader,nounits``.

    One GPU per line: ``0, NVIDIA H100 80GB HBM3, 37, 10240, 81559, 45, 118.52``. Fields that
    the GPU does not support (``[N/A]``, ``[Not Supported]``) become None; lines that are not a
    GPU (a header, blank lines, ``No devices were found``) are skipped.
    """
    samples: list[GpuSample] = []
    for raw in text.splitlines():
        fields = [f.strip() for f in raw.split(",")]
        if len(fields) < 7:
            continue
        try:
            index = int(fields[0])
        except ValueError:
            continue
        # a name with a comma in it spreads over several fields; the last five are numbers
        name = ", ".join(fields[1:-5])
        util, used, total, temp, power = (_number(f) for f in fields[-5:])
        samples.append(GpuSample(index, name, util, used, total, temp, power))
    return samples


_nvml_lock = threading.Lock()
_nvml_module: ModuleType | None = None
_nvml_failed = False


def _nvml() -> ModuleType | None:
    """The initialised ``pynvml`` module, or None (remembered) when it is absent or fails."""
    global _nvml_module, _nvml_failed  # noqa: PLW0603 -- NVML is initialised once per process
    with _nvml_lock:
        if _nvml_module is not None or _nvml_failed:
            return _nvml_module
        try:
            module = importlib.import_module("pynvml")
            module.nvmlInit()
        except Exception:  # ImportError, NVMLError (no driver), anything a broken install does
            _nvml_failed = True
            return None
        _nvml_module = module
        return module


def _nvml_call(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except Exception:  # NVMLError_NotSupported and friends: leave the field out
        return None


def _nvml_memory(nvml: ModuleType, handle: Any) -> Any:
    """Memory info as ``nvidia-smi`` shows it: the v2 struct, whose ``used`` leaves out what
    the driver reserves (v1 counts it: ~600 MiB "used" on an idle H200). v1 on old drivers."""
    v2 = getattr(nvml, "nvmlMemory_v2", None)
    memory = _nvml_call(nvml.nvmlDeviceGetMemoryInfo, handle, v2) if v2 is not None else None
    if memory is None:
        memory = _nvml_call(nvml.nvmlDeviceGetMemoryInfo, handle)
    return memory


def read_gpus_nvml() -> list[GpuSample] | None:
    """Every GPU through NVML, or None when NVML is not installed or does not initialise."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception:
        return None
    samples: list[GpuSample] = []
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except Exception:
            continue
        name = _nvml_call(nvml.nvmlDeviceGetName, handle)
        if isinstance(name, bytes):  # nvidia-ml-py before 11.515 returned bytes
            name = name.decode("utf-8", errors="replace")
        rates = _nvml_call(nvml.nvmlDeviceGetUtilizationRates, handle)
        util = getattr(rates, "gpu", None)
        memory = _nvml_memory(nvml, handle)
        temp = _nvml_call(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        milliwatts = _nvml_call(nvml.nvmlDeviceGetPowerUsage, handle)
        samples.append(
            GpuSample(
                index=index,
                name=str(name) if name is not None else "",
                utilization_percent=float(util) if util is not None else None,
                memory_used_mib=memory.used / _MIB if memory is not None else None,
                memory_total_mib=memory.total / _MIB if memory is not None else None,
                temperature_celsius=float(temp) if temp is not None else None,
                power_watts=milliwatts / 1000.0 if milliwatts is not None else None,
            )
        )
    return samples


def read_gpus_nvidia_smi() -> list[GpuSample] | None:
    """Every GPU through ``nvidia-smi`` on ``PATH``, or None when it is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, NVIDIA_SMI_QUERY, "--format=csv,noheader,nounits"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return parse_nvidia_smi_csv(done.stdout.decode("utf-8", errors="replace"))


def read_gpus(*, prefer_nvml: bool = True) -> list[GpuSample]:
    """Every GPU of this machine: NVML first (unless ``prefer_nvml`` is False), then
    ``nvidia-smi``; ``[]`` without either. Never raises."""
    try:
        if prefer_nvml:
            found = read_gpus_nvml()
            if found is not None:
                return found
        return read_gpus_nvidia_smi() or []
    except Exception:  # a sample must never take a run down
        logger.debug("reading GPUs failed", exc_info=True)
        return []


class _CpuMeter:
    """System-wide CPU utilisation between two calls, with state of its own.

    ``psutil.cpu_percent(interval=None)`` keeps one module-wide "last call", which the user's
    code (or a second sampler) would steal; each sampler keeps its own here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float] | None = None

    @staticmethod
    def _read() -> tuple[float, float]:
        import psutil

        times = psutil.cpu_times()
        total = sum(times)
        # as psutil does: guest time is already counted in user time on Linux
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
        idle = times.idle + getattr(times, "iowait", 0.0)
        return total, total - idle

    def prime(self) -> None:
        with self._lock:
            self._last = self._read()

    def percent(self) -> float | None:
        """Busy share of all CPUs since the previous call (the first call waits 0.1 s)."""
        with self._lock:
            if self._last is None:
                self._last = self._read()
                time.sleep(_CPU_PRIME_SECONDS)
            total0, busy0 = self._last
            total1, busy1 = self._last = self._read()
        elapsed = total1 - total0
        if elapsed <= 0:
            return None
        return min(100.0, max(0.0, (busy1 - busy0) / elapsed * 100.0))


_default_cpu = _CpuMeter()


def _gpu_metrics(gpus: list[GpuSample]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for gpu in gpus:
        prefix = f"system/gpu_{gpu.index}_"
        if gpu.utilization_percent is not None:
            metrics[prefix + "utilization_percentage"] = gpu.utilization_percent
        if gpu.memory_used_mib is not None:
            metrics[prefix + "memory_usage_megabytes"] = gpu.memory_used_mib * _MIB / _MB
            if gpu.memory_total_mib:
                share = gpu.memory_used_mib / gpu.memory_total_mib * 100.0
                metrics[prefix + "memory_usage_percentage"] = share
        if gpu.temperature_celsius is not None:
            metrics[prefix + "temperature_celsius"] = gpu.temperature_celsius
        if gpu.power_watts is not None:
            metrics[prefix + "power_watts"] = gpu.power_watts
    return metrics


def _sample(cpu: _CpuMeter, prefer_nvml: bool) -> dict[str, float]:
    import psutil

    metrics: dict[str, float] = {}
    try:
        percent = cpu.percent()
        if percent is not None:
            metrics["system/cpu_utilization_percentage"] = percent
    except Exception:
        logger.debug("reading CPU use failed", exc_info=True)
    try:
        memory = psutil.virtual_memory()
        metrics["system/system_memory_usage_megabytes"] = (memory.total - memory.available) / _MB
        metrics["system/system_memory_usage_percentage"] = float(memory.percent)
    except Exception:
        logger.debug("reading memory use failed", exc_info=True)
    try:
        disk = psutil.disk_usage(os.path.abspath(os.sep))
        metrics["system/disk_usage_percentage"] = float(disk.percent)
        metrics["system/disk_usage_megabytes"] = disk.used / _MB
        metrics["system/disk_available_megabytes"] = disk.free / _MB
    except Exception:
        logger.debug("reading disk use failed", exc_info=True)
    metrics.update(_gpu_metrics(read_gpus(prefer_nvml=prefer_nvml)))
    return metrics


def sample_system(*, prefer_nvml: bool = True) -> dict[str, float]:
    """One sample of this machine, keyed like MLflow's system metrics.

    Always (where the OS tells): ``system/cpu_utilization_percentage`` (all CPUs, since the
    previous call; the first call in a process waits 0.1 s to measure),
    ``system/system_memory_usage_megabytes`` (total minus available),
    ``system/system_memory_usage_percentage``, ``system/disk_usage_percentage``,
    ``system/disk_usage_megabytes`` and ``system/disk_available_megabytes`` (of the root
    file system). Per GPU ``N``: ``system/gpu_N_utilization_percentage``,
    ``system/gpu_N_memory_usage_megabytes``, ``system/gpu_N_memory_usage_percentage``,
    ``system/gpu_N_temperature_celsius`` and ``system/gpu_N_power_watts``, each where the GPU
    reports it. Never raises for a value it cannot read; it leaves that key out.
    """
    return _sample(_default_cpu, prefer_nvml)


class SystemMetricsSampler:
    """Calls ``log(sample_system(), step)`` every ``interval`` seconds on a daemon thread.

    The first sample comes about 0.1 s after :meth:`start` (long enough to measure CPU use);
    steps count 0, 1, 2, ... A sample that takes longer than ``interval`` delays the next one
    rather than bunching them up. An exception from ``log`` (or from sampling) is logged on the
    ``shipyard.system_metrics`` logger -- the first as a warning, later ones at debug level --
    and sampling goes on. :meth:`stop` returns promptly and may be called any number of times.
    A sampler runs once; use it as a context manager or pair ``start()`` with ``stop()``.
    """

    def __init__(
        self,
        log: Callable[[dict[str, float], int], None],
        interval: float,
        *,
        prefer_nvml: bool = True,
    ) -> None:
        if not (isinstance(interval, int | float) and math.isfinite(interval) and interval > 0):
            raise InvalidInputError(
                f"system metrics interval must be a positive number of seconds, got {interval!r}",
                field="interval",
            )
        self._log = log
        self._interval = float(interval)
        self._prefer_nvml = prefer_nvml
        self._cpu = _CpuMeter()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._warned = False
        self.step = 0
        """The step the next sample will be logged with (= samples taken so far)."""

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stopping.is_set()

    def start(self) -> None:
        """Start sampling. Raises InvalidStateError if this sampler was started before."""
        with self._lock:
            if self._thread is not None:
                raise InvalidStateError("this system metrics sampler was already started")
            self._thread = threading.Thread(
                target=self._run, name="shipyard-system-metrics", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop sampling and wait up to ``timeout`` seconds for the thread to finish.

        A ``log`` call already in progress is not interrupted; if it outlasts ``timeout`` the
        daemon thread finishes it on its own and logs nothing more.
        """
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> SystemMetricsSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _report(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "system metrics: %s failed; sampling goes on, further failures are logged at "
                "debug level",
                what,
                exc_info=True,
            )
        else:
            logger.debug("system metrics: %s failed", what, exc_info=True)

    def _run(self) -> None:
        try:
            self._cpu.prime()
        except Exception:
            self._report("reading CPU times")
        next_at = time.monotonic() + min(self._interval, _CPU_PRIME_SECONDS)
        while not self._stopping.wait(max(0.0, next_at - time.monotonic())):
            try:
                metrics = _sample(self._cpu, self._prefer_nvml)
            except Exception:
                self._report("sampling")
                metrics = None
            if metrics is not None and not self._stopping.is_set():
                step = self.step
                self.step += 1
                try:
                    self._log(metrics, step)
                except Exception:
                    self._report("logging a sample")
            next_at = max(next_at + self._interval, time.monotonic())
