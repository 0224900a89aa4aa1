"""The registry benchmark's data and queries, shared by both workers (standard library only).

``models`` registered models of ``versions`` versions each; every version has three tags drawn
from a seeded generator, the same on both sides: ``stage`` (dev/staging/prod), ``team`` (one of
10) and ``owner`` (one of 50).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator

STAGES = ("dev", "staging", "prod")
TEAMS = tuple(f"team-{i:02d}" for i in range(10))
OWNERS = tuple(f"owner-{i:02d}@example.com" for i in range(50))
ACTOR = "bench@example.com"
SEED = 7

TAG_FILTER = "tags.stage = 'prod'"  # the goal's query: one tag equality (a third match)
RARE_OWNER = OWNERS[7]
RARE_TAG_FILTER = f"tags.owner = '{RARE_OWNER}'"  # a rarer value: one version in 50 matches


def model_name(index: int) -> str:
    return f"model-{index:04d}"


def name_and_tag_filter(models: int) -> str:
    """One model (a third of the way in) and the same tag."""
    return f"name = '{model_name(models // 3)}' AND tags.stage = 'prod'"


def filters(models: int) -> dict[str, str]:
    """The queries both sides run, by label (the goal is on ``tag``)."""
    return {"tag": TAG_FILTER, "name_and_tag": name_and_tag_filter(models),
            "rare_tag": RARE_TAG_FILTER}


def source(name: str, version: int) -> str:
    return f"s3://bench-models/{name}/{version}"


def model_plan(index: int, versions: int, seed: int = SEED) -> list[dict[str, str]]:
    """The tags of versions 1..``versions`` of model ``index`` (its own seeded generator, so
    any range of models can be created on its own)."""
    rng = random.Random(seed * 1_000_003 + index)
    return [{"stage": rng.choice(STAGES), "team": rng.choice(TEAMS),
             "owner": rng.choice(OWNERS)} for _ in range(versions)]


def plan(models: int, versions: int, seed: int = SEED
         ) -> Iterator[tuple[str, int, dict[str, str]]]:
    """Every version to create, in order: (model name, version number, tags)."""
    for m in range(models):
        for v, tags in enumerate(model_plan(m, versions, seed), start=1):
            yield model_name(m), v, tags


def expected(models: int, versions: int, filter_label: str) -> set[tuple[str, int]]:
    """The (name, version) pairs a query must return, computed from the plan alone."""
    one = model_name(models // 3)
    tests: dict[str, Callable[[str, dict[str, str]], bool]] = {
        "tag": lambda name, tags: tags["stage"] == "prod",
        "name_and_tag": lambda name, tags: name == one and tags["stage"] == "prod",
        "rare_tag": lambda name, tags: tags["owner"] == RARE_OWNER}
    test = tests[filter_label]
    return {(name, version) for name, version, tags in plan(models, versions)
            if test(name, tags)}


def fingerprint(keys: Iterable[tuple[str, int]]) -> str:
    """An order-insensitive digest of (name, version) pairs."""
    digest = hashlib.sha256()
    for name, version in sorted(keys):
        digest.update(f"{name}/{version}\n".encode())
    return digest.hexdigest()[:16]
