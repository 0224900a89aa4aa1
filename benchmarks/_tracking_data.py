"""The tracking benchmark's data, identical for every side (standard library only).

Runs are generated from a seed, so the MLflow worker and ours insert the very same run ids,
names, times, params, metrics and tags, and can be checked against each other with
:func:`fingerprint`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

N_PARAMS = 5
N_METRICS = 5
N_TAGS = 2
BASE_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
USER = "bench"
# One param in four is 'a', one metric value in two is above 0.5: about 1 run in 8 matches.
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER_BY = ["metrics.m1 DESC"]
SEARCH_PAGE = 100


@dataclass(frozen=True, slots=True)
class SeedRun:
    run_id: str
    name: str
    start_time: int
    end_time: int
    params: dict[str, str]
    metrics: dict[str, float]  # one point per key, at step 0 and timestamp end_time
    tags: dict[str, str]


def seed_runs(count: int, seed: int) -> Iterator[SeedRun]:
    rng = random.Random(seed)
    for i in range(count):
        start = BASE_TIME_MS + i * 1000
        yield SeedRun(
            run_id=f"{rng.getrandbits(128):032x}",
            name=f"run-{i:06d}",
            start_time=start,
            end_time=start + 500,
            params={"p0": rng.choice("abcd"),
                    **{f"p{k}": str(rng.randrange(1000)) for k in range(1, N_PARAMS)}},
            metrics={f"m{k}": rng.random() for k in range(N_METRICS)},
            tags={f"t{k}": f"tag-{rng.randrange(10)}" for k in range(N_TAGS)},
        )


def batch_points(count: int) -> Iterator[tuple[str, float, int, int]]:
    """(key, value, step, timestamp) of a log_batch workload: ten series, ``count`` points."""
    for i in range(count):
        yield f"m{i % 10}", i * 0.001, i // 10, BASE_TIME_MS + i


def _canonical(mapping: Mapping[str, object]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in sorted(mapping.items()))


def fingerprint(runs: Iterable[tuple[str, str, int, Mapping[str, str], Mapping[str, float],
                                     Mapping[str, str]]]) -> str:
    """A digest of (run_id, name, start_time, params, metrics, tags), order-independent."""
    lines = sorted(
        f"{run_id}|{name}|{start}|{_canonical(params)}|{_canonical(metrics)}|{_canonical(tags)}"
        for run_id, name, start, params, metrics, tags in runs
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
