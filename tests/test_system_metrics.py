"""System metrics: nvidia-smi parsing, GPU reading (NVML, nvidia-smi), sampling, the sampler.

The files in ``tests/data/nvidia_smi/`` are outputs of
``nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,
power.draw --format=csv,noheader,nounits``; see the README there for where each comes from.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.services import system_metrics
from shipyard.services.system_metrics import (
    GpuSample,
    SystemMetricsSampler,
    parse_nvidia_smi_csv,
    read_gpus,
    read_gpus_nvidia_smi,
    sample_system,
)

DATA = Path(__file__).parent / "data" / "nvidia_smi"
MIB_IN_MB = 1024 * 1024 / 1_000_000
GPU_KEYS = (
    "utilization_percentage",
    "memory_usage_megabytes",
    "memory_usage_percentage",
    "temperature_celsius",
    "power_watts",
)

needs_posix = pytest.mark.skipif(os.name != "posix", reason="the fake nvidia-smi is a sh script")


def recorded(name: str) -> str:
    return (DATA / name).read_text()


# --- parsing -------------------------------------------------------------------------------


def test_parse_h100() -> None:
    assert parse_nvidia_smi_csv(recorded("h100_1gpu.csv")) == [
        GpuSample(0, "NVIDIA H100 80GB HBM3", 37.0, 10240.0, 81559.0, 45.0, 118.52)
    ]


def test_parse_recorded_h200() -> None:
    assert parse_nvidia_smi_csv(recorded("h200_1gpu_recorded.csv")) == [
        GpuSample(0, "NVIDIA H200", 0.0, 0.0, 143771.0, 39.0, 130.44)
    ]


def test_parse_recorded_h200_under_load() -> None:
    assert parse_nvidia_smi_csv(recorded("h200_1gpu_load_recorded.csv")) == [
        GpuSample(0, "NVIDIA H200", 99.0, 9677.0, 143771.0, 62.0, 578.26)
    ]


def test_parse_two_gpus() -> None:
    assert parse_nvidia_smi_csv(recorded("a100_2gpu.csv")) == [
        GpuSample(0, "NVIDIA A100-SXM4-40GB", 98.0, 31245.0, 40960.0, 61.0, 287.41),
        GpuSample(1, "NVIDIA A100-SXM4-40GB", 0.0, 4.0, 40960.0, 33.0, 54.12),
    ]


def test_parse_power_not_available() -> None:
    assert parse_nvidia_smi_csv(recorded("power_na.csv")) == [
        GpuSample(0, "NVIDIA GeForce RTX 3050 Laptop GPU", 5.0, 301.0, 4096.0, 47.0, None)
    ]


def test_parse_not_supported() -> None:
    assert parse_nvidia_smi_csv(recorded("not_supported.csv")) == [
        GpuSample(0, "GeForce GTX 770", None, 351.0, 2047.0, 38.0, None)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "No devices were found\n",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
        "index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], "
        "temperature.gpu, power.draw [W]\n",
    ],
)
def test_parse_skips_lines_that_are_not_gpus(text: str) -> None:
    assert parse_nvidia_smi_csv(text) == []


def test_parse_tolerates_whitespace_crlf_and_odd_fields() -> None:
    text = (
        "  0 ,  NVIDIA H100 80GB HBM3 ,37,10240 , 81559,45 ,118.52  \r\n"
        "1, Some, GPU, Name, [N/A], [Unknown Error], 81559, N/A, nan\r\n"
    )
    assert parse_nvidia_smi_csv(text) == [
        GpuSample(0, "NVIDIA H100 80GB HBM3", 37.0, 10240.0, 81559.0, 45.0, 118.52),
        GpuSample(1, "Some, GPU, Name", None, None, 81559.0, None, None),
    ]


# --- reading GPUs through nvidia-smi ------------------------------------------------------


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make NVML unavailable, whatever is installed, so the nvidia-smi path is the one taken."""
    monkeypatch.setattr(system_metrics, "read_gpus_nvml", lambda: None)


@pytest.fixture
def fake_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Put a fake ``nvidia-smi`` first on PATH; it runs the given sh body."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def install(body: str) -> Path:
        exe = bin_dir / "nvidia-smi"
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(0o755)
        return exe

    return install


def print_recorded(name: str) -> str:
    return f"exec cat {shlex.quote(str(DATA / name))}"


@needs_posix
@pytest.mark.usefixtures("no_nvml")
def test_sample_system_with_fake_nvidia_smi(fake_nvidia_smi: Callable[[str], Path]) -> None:
    """This machine has no GPU: a fake ``nvidia-smi`` first on PATH prints a recorded H100
    output and stands in for one. ``scripts/gpu_check.py`` checks the real thing on a GPU."""
    fake_nvidia_smi(print_recorded("h100_1gpu.csv"))
    metrics = sample_system(prefer_nvml=False)
    assert metrics["system/gpu_0_utilization_percentage"] == 37.0
    assert metrics["system/gpu_0_memory_usage_megabytes"] == pytest.approx(10240 * MIB_IN_MB)
    assert metrics["system/gpu_0_memory_usage_percentage"] == pytest.approx(10240 / 81559 * 100)
    assert metrics["system/gpu_0_temperature_celsius"] == 45.0
    assert metrics["system/gpu_0_power_watts"] == 118.52
    for key in (
        "system/cpu_utilization_percentage",
        "system/system_memory_usage_megabytes",
        "system/system_memory_usage_percentage",
        "system/disk_usage_percentage",
    ):
        assert key in metrics
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert not any(key.startswith("system/gpu_1_") for key in metrics)


@needs_posix
@pytest.mark.usefixtures("no_nvml")
def test_sample_system_two_gpus_and_missing_fields(
    fake_nvidia_smi: Callable[[str], Path],
) -> None:
    """A fake ``nvidia-smi`` (recorded output) stands in for a two-GPU machine."""
    fake_nvidia_smi(print_recorded("a100_2gpu.csv"))
    metrics = sample_system()
    for index in (0, 1):
        for key in GPU_KEYS:
            assert f"system/gpu_{index}_{key}" in metrics
    assert metrics["system/gpu_1_power_watts"] == 54.12

    fake_nvidia_smi(print_recorded("not_supported.csv"))
    metrics = sample_system()
    assert "system/gpu_0_utilization_percentage" not in metrics
    assert "system/gpu_0_power_watts" not in metrics
    assert metrics["system/gpu_0_memory_usage_percentage"] == pytest.approx(351 / 2047 * 100)


@needs_posix
@pytest.mark.usefixtures("no_nvml")
def test_read_gpus_through_fake_nvidia_smi(fake_nvidia_smi: Callable[[str], Path]) -> None:
    """A fake ``nvidia-smi`` stands in for a GPU; it also checks the arguments it is given."""
    fake_nvidia_smi(
        '[ "$1" = "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,'
        'temperature.gpu,power.draw" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 2\n'
        + print_recorded("h100_1gpu.csv")
    )
    assert read_gpus() == parse_nvidia_smi_csv(recorded("h100_1gpu.csv"))


@needs_posix
@pytest.mark.usefixtures("no_nvml")
def test_failing_nvidia_smi_gives_no_gpus(fake_nvidia_smi: Callable[[str], Path]) -> None:
    fake_nvidia_smi(
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."'
        "\nexit 9"
    )
    assert read_gpus_nvidia_smi() is None
    assert read_gpus() == []
    assert not any(key.startswith("system/gpu_") for key in sample_system())


@needs_posix
@pytest.mark.usefixtures("no_nvml")
def test_hanging_nvidia_smi_times_out(
    fake_nvidia_smi: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvidia_smi("exec sleep 30")
    monkeypatch.setattr(system_metrics, "NVIDIA_SMI_TIMEOUT", 0.3)
    started = time.monotonic()
    assert read_gpus() == []
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("no_nvml")
def test_no_nvidia_smi_gives_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert read_gpus_nvidia_smi() is None
    assert read_gpus() == []


def test_read_gpus_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[GpuSample] | None:
        raise RuntimeError("driver on fire")

    monkeypatch.setattr(system_metrics, "read_gpus_nvml", broken)
    assert read_gpus() == []


# --- reading GPUs through NVML (a fake pynvml module) --------------------------------------


class NVMLError(Exception):
    pass


def fake_pynvml(*, init_fails: bool = False, v2: bool = True) -> SimpleNamespace:
    """Just enough of nvidia-ml-py's ``pynvml`` for two GPUs, the second missing sensors."""
    gib = 1024**3

    def init() -> None:
        if init_fails:
            raise NVMLError("NVML Shared Library Not Found")

    def memory(handle: int, version: int | None = None) -> SimpleNamespace:
        if version is not None and not v2:
            raise NVMLError("Function Not Found")
        reserved = 0 if version else 615 * 1024 * 1024
        return SimpleNamespace(used=handle * gib + reserved, total=80 * gib)

    def not_on_second(value: Any) -> Callable[..., Any]:
        def read(handle: int, *_: Any) -> Any:
            if handle == 1:
                raise NVMLError("Not Supported")
            return value

        return read

    module = SimpleNamespace(
        nvmlInit=init,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetName=lambda handle: b"NVIDIA H100 80GB HBM3" if handle else "NVIDIA H100",
        nvmlDeviceGetUtilizationRates=lambda handle: SimpleNamespace(gpu=50 + handle, memory=3),
        nvmlDeviceGetMemoryInfo=memory,
        nvmlDeviceGetTemperature=not_on_second(41),
        nvmlDeviceGetPowerUsage=not_on_second(118_520),
        NVML_TEMPERATURE_GPU=0,
    )
    if v2:
        module.nvmlMemory_v2 = 0x02000028
    return module


@pytest.fixture
def install_pynvml(monkeypatch: pytest.MonkeyPatch) -> Callable[[SimpleNamespace], None]:
    def install(module: SimpleNamespace) -> None:
        monkeypatch.setitem(sys.modules, "pynvml", module)
        monkeypatch.setattr(system_metrics, "_nvml_module", None)
        monkeypatch.setattr(system_metrics, "_nvml_failed", False)

    return install


def test_nvml_reading(install_pynvml: Callable[[SimpleNamespace], None]) -> None:
    install_pynvml(fake_pynvml())
    assert read_gpus() == [
        GpuSample(0, "NVIDIA H100", 50.0, 0.0, 81920.0, 41.0, 118.52),
        GpuSample(1, "NVIDIA H100 80GB HBM3", 51.0, 1024.0, 81920.0, None, None),
    ]


def test_nvml_without_v2_memory_falls_back_to_v1(
    install_pynvml: Callable[[SimpleNamespace], None],
) -> None:
    install_pynvml(fake_pynvml(v2=False))
    gpus = read_gpus()
    assert [gpu.memory_used_mib for gpu in gpus] == [615.0, 1024.0 + 615.0]


@needs_posix
def test_nvml_that_fails_to_initialise_falls_back_to_nvidia_smi(
    install_pynvml: Callable[[SimpleNamespace], None],
    fake_nvidia_smi: Callable[[str], Path],
) -> None:
    install_pynvml(fake_pynvml(init_fails=True))
    fake_nvidia_smi(print_recorded("h100_1gpu.csv"))
    assert read_gpus() == parse_nvidia_smi_csv(recorded("h100_1gpu.csv"))
    assert system_metrics.read_gpus_nvml() is None


def test_importing_is_light() -> None:
    code = (
        "import sys, shipyard.services.run_context, shipyard.services.system_metrics\n"
        "print(sorted(m for m in ('psutil', 'pynvml', 'importlib.metadata') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "psutil" not in done.stdout
    assert "pynvml" not in done.stdout


# --- the sampler ---------------------------------------------------------------------------


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[dict[str, float], int]] = []
        self.fail_first = fail_first
        self.seen = threading.Condition()

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        with self.seen:
            self.calls.append((metrics, step))
            self.seen.notify_all()
        if len(self.calls) <= self.fail_first:
            raise ConnectionError("tracking server unreachable")

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        with self.seen:
            assert self.seen.wait_for(lambda: len(self.calls) >= count, timeout), self.calls


@pytest.mark.usefixtures("no_nvml")
def test_sampler_logs_steps_and_stops_promptly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi: only CPU, memory and disk
    log = Recorder()
    sampler = SystemMetricsSampler(log, interval=0.05)
    sampler.start()
    log.wait_for(2)
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 1.0
    assert not sampler.running
    count = len(log.calls)
    steps = [step for _, step in log.calls]
    assert steps[:2] == [0, 1]
    assert steps == list(range(count))
    assert all("system/cpu_utilization_percentage" in m for m, _ in log.calls)
    time.sleep(0.15)
    assert len(log.calls) == count  # nothing after stop
    sampler.stop()  # idempotent


def test_sampler_first_sample_is_prompt_even_with_a_long_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(system_metrics, "read_gpus", lambda **_: [])
    log = Recorder()
    started = time.monotonic()
    with SystemMetricsSampler(log, interval=3600):
        log.wait_for(1, timeout=2)
    assert time.monotonic() - started < 2
    assert [step for _, step in log.calls] == [0]


def test_sampler_survives_a_failing_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(system_metrics, "read_gpus", lambda **_: [])
    log = Recorder(fail_first=2)
    with (
        caplog.at_level(logging.DEBUG, logger="shipyard.system_metrics"),
        SystemMetricsSampler(log, interval=0.02),
    ):
        log.wait_for(4)
    assert [step for _, step in log.calls][:4] == [0, 1, 2, 3]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "logging a sample failed" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None
    assert warnings[0].name == "shipyard.system_metrics"


@pytest.mark.parametrize("interval", [0, -1.0, math.nan, math.inf])
def test_sampler_rejects_bad_interval(interval: float) -> None:
    with pytest.raises(InvalidInputError) as info:
        SystemMetricsSampler(lambda m, s: None, interval)
    assert info.value.field == "interval"


def test_sampler_runs_once() -> None:
    sampler = SystemMetricsSampler(lambda m, s: None, 10)
    sampler.stop()  # before start: harmless
    sampler.start()
    with pytest.raises(InvalidStateError):
        sampler.start()
    sampler.stop()
    sampler.stop()
